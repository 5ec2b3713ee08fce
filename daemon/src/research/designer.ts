import { errorMessage } from '../util/errors.js';
import {
  HPARAMS,
  HPARAM_KEYS,
  checkConfig,
  checkResolved,
  configKey,
  describeRange,
  resolveConfig,
  show,
  type HParam,
  type TrialConfig,
} from './hparams.js';
import type { DesignerSpec, ResearchPlan, VaryPhase } from './plan.js';

/**
 * The optional strategy designer (Algorithm 1, DesignStrategies): an OpenAI-compatible chat endpoint asked for one
 * more phase given the search so far. Its answer is a proposal, checked like a plan's phase; anything wrong with the
 * endpoint or the answer is a refusal with one line saying what, never an exception, so the loop goes on without it.
 */

export interface DesignerInput {
  plan: ResearchPlan;
  best: TrialConfig;
  bestEvalLoss: number;
  history: { phase: string; trials: { config: TrialConfig; evalLoss: number }[] }[];
  insights: string[];
}

export interface DesignerOptions {
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
  env: Record<string, string | undefined>;
}

export type Proposal = { ok: true; phase: VaryPhase; why: string } | { ok: false; reason: string };

/** The most of an answer read; a longer one is refused. */
export const MAX_ANSWER_BYTES = 64 * 1024;
export const MAX_PROPOSED_CONFIGS = 8;
const MAX_REASON = 300;
const MAX_WHY = 500;

/** One line of at most `max` characters (control characters become spaces). */
function oneLine(s: string, max = MAX_REASON): string {
  // eslint-disable-next-line no-control-regex
  const line = s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

function rangeLine(k: string, p: HParam): string {
  return `- ${k} (${p.group}): ${describeRange(p)}; ${p.description}`;
}

/** The system message: what may be proposed and how to answer. */
export function systemPrompt(): string {
  return [
    'You design the next phase of a hyperparameter search for a small BitNet b1.58 language model (Genkidama-style:',
    'each phase varies one group of hyperparameters while the rest stay at the current best). Lower eval loss is better.',
    'Hyperparameters (snake_case keys, with their allowed values):',
    ...HPARAM_KEYS.map((k) => rangeLine(k, HPARAMS[k])),
    'Rules between keys: dim % n_heads == 0; n_heads % n_kv_heads == 0; dim / n_heads even; warmup_frac + decay_frac <= 1.',
    `Answer with one JSON object and nothing else: {"name": "<phase name, at most 64 characters>", "vary": [<1 to ${MAX_PROPOSED_CONFIGS}`,
    'partial configs, each merged over the current best>], "why": "<one sentence: the failure mode or insight it tests>"}.',
    'Propose configs that differ from the current best and from those already tried.',
  ].join('\n');
}

/** The user message: the state of the search as compact JSON. */
export function userPrompt(input: DesignerInput): string {
  const { plan } = input;
  return JSON.stringify({
    plan: { name: plan.name, data: plan.data, steps: plan.budget.steps, base: plan.base },
    best: resolveConfig(input.best),
    bestEvalLoss: input.bestEvalLoss,
    history: input.history.slice(-32),
    insights: input.insights.slice(-32),
  });
}

/** The first balanced {...} in `text` that parses as a JSON object (strings and escapes respected). */
export function extractJsonObject(text: string): Record<string, unknown> | undefined {
  let start = text.indexOf('{');
  for (let tries = 0; start >= 0 && tries < 32; tries++) {
    let depth = 0;
    let inString = false;
    for (let i = start; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (ch === '\\') i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = true;
      else if (ch === '{') depth++;
      else if (ch === '}' && --depth === 0) {
        try {
          const v: unknown = JSON.parse(text.slice(start, i + 1));
          if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
        } catch {
          // not JSON: try the next '{'
        }
        break;
      }
    }
    start = text.indexOf('{', start + 1);
  }
  return undefined;
}

/** Checks a parsed answer against the schema and the current best; the reason names the bad key. */
export function checkProposal(answer: Record<string, unknown>, best: TrialConfig): Proposal {
  const refuse = (msg: string): Proposal => ({ ok: false, reason: oneLine(`designer answer: ${msg}`) });
  const name = answer['name'];
  if (typeof name !== 'string' || name.trim().length === 0 || name.length > 64)
    return refuse(`"name" must be a string of 1 to 64 characters, not ${show(name)}`);
  const vary = answer['vary'];
  if (!Array.isArray(vary) || vary.length < 1 || vary.length > MAX_PROPOSED_CONFIGS)
    return refuse(`"vary" must be a list of 1 to ${MAX_PROPOSED_CONFIGS} configs, not ${show(vary)}`);
  const why = answer['why'] ?? '';
  if (typeof why !== 'string') return refuse(`"why" must be a string, not ${show(why)}`);
  const configs: TrialConfig[] = [];
  try {
    vary.forEach((entry: unknown, i) => {
      const c = checkConfig(entry, `vary[${i}]`);
      checkResolved(resolveConfig({ ...best, ...c }), `vary[${i}] (over the best)`);
      configs.push(c);
    });
  } catch (err) {
    return refuse(errorMessage(err));
  }
  const bestKey = configKey(best);
  if (configs.every((c) => configKey({ ...best, ...c }) === bestKey)) return refuse('every proposed config equals the current best');
  return { ok: true, phase: { name: oneLine(name, 64), vary: configs }, why: oneLine(why, MAX_WHY) };
}

/** Reads at most MAX_ANSWER_BYTES of a response body; undefined when it is longer. */
async function readCapped(res: Response): Promise<string | undefined> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks the designer for one more phase. Never throws. */
export async function proposePhase(d: DesignerSpec, input: DesignerInput, opts: DesignerOptions): Promise<Proposal> {
  const url = d.url.replace(/\/+$/, '');
  const refuse = (msg: string): Proposal => ({ ok: false, reason: oneLine(`designer ${url}: ${msg}`) });
  const timeout = AbortSignal.timeout(d.timeoutSec * 1000);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const key = d.apiKeyEnv ? opts.env[d.apiKeyEnv] : undefined;
  if (key) headers['authorization'] = `Bearer ${key}`;
  const body = JSON.stringify({
    model: d.model,
    messages: [
      { role: 'system', content: systemPrompt() },
      { role: 'user', content: userPrompt(input) },
    ],
    temperature: 0,
  });
  let text: string | undefined;
  try {
    const res = await (opts.fetchImpl ?? fetch)(`${url}/v1/chat/completions`, { method: 'POST', headers, body, signal });
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      return refuse(`HTTP ${res.status}`);
    }
    text = await readCapped(res);
  } catch (err) {
    if (opts.signal?.aborted) return refuse('aborted');
    if (timeout.aborted) return refuse(`no answer within ${d.timeoutSec} s`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return refuse(`unreachable (${cause?.code ?? cause?.message ?? errorMessage(err)})`);
  }
  if (text === undefined) return refuse(`the answer is larger than ${MAX_ANSWER_BYTES / 1024} KiB`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return refuse(`the response is not JSON: ${show(text.slice(0, 60))}`);
  }
  const content = (json as { choices?: { message?: { content?: unknown } }[] })?.choices?.[0]?.message?.content;
  if (typeof content !== 'string') return refuse('the response has no choices[0].message.content');
  const answer = extractJsonObject(content);
  if (!answer) return { ok: false, reason: oneLine(`designer answer: no JSON object in ${show(content.slice(0, 60))}`) };
  return checkProposal(answer, input.best);
}
