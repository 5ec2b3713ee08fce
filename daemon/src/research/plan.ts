import { createHash } from 'node:crypto';
import { ConfigError } from '../util/errors.js';
import {
  HPARAMS,
  NUMERIC_KEYS,
  canonicalJson,
  checkConfig,
  checkResolved,
  configKey,
  describeRange,
  inRange,
  resolveConfig,
  resolvedProblem,
  show,
  type HParam,
  type HParamKey,
  type TrialConfig,
} from './hparams.js';

/**
 * A research plan: the phases of a Genkidama-style search (paper section 8.2: each phase varies one hyperparameter
 * group while the others stay at the current best), its budget, how results are scored and checked, and when to
 * stop (Algorithm 1, line 16). A pure description: the loop driver runs it.
 */
export interface ResearchPlan {
  magnetResearch: 1;
  name: string;
  /** The starting config (Algorithm 1's M0); phases move away from it. */
  base: TrialConfig;
  /** The trainer's --data value: a path on every trainer node, 'stdlib' or 'generated'. */
  data: string;
  /** Two disjoint held-out sets: evalWindows select configs, testWindows give the final report. */
  evaluation: { evalWindows: number; testWindows: number };
  budget: { steps: number; maxTrials: number; maxHours: number };
  phases: Phase[];
  /** Every config runs once per seed; its loss is the mean over seeds. */
  seeds: number[];
  /** Stop when `patience` consecutive phases each improve the best eval loss by less than `epsilon` (relative). */
  convergence: { patience: number; epsilon: number };
  /** Share of remote results re-scored, and the relative loss difference a re-score may show. */
  verify: { sampleRate: number; tolerance: number };
  trialTimeoutSec: number;
  designer?: DesignerSpec;
}

/** An OpenAI-compatible chat endpoint that may propose phases of its own. */
export interface DesignerSpec {
  url: string;
  model: string;
  /** The environment variable holding the bearer token, if the endpoint wants one. */
  apiKeyEnv?: string;
  timeoutSec: number;
  /** How many phases the designer may add to one run. */
  maxProposals: number;
}

/** Explicit configs, each partial and merged over the current best. */
export interface VaryPhase {
  name: string;
  vary: TrialConfig[];
}
/** The current best's value of one numeric hyperparameter times each factor. */
export interface RulePhase {
  name: string;
  rule: { param: HParamKey; times: number[] };
}
/** The top configs so far, re-run at stepsFactor x the budget's steps. */
export interface FinalPhase {
  name: string;
  final: { top: number; stepsFactor: number };
}
export type Phase = VaryPhase | RulePhase | FinalPhase;

export function phaseKind(p: Phase): 'vary' | 'rule' | 'final' {
  return 'vary' in p ? 'vary' : 'rule' in p ? 'rule' : 'final';
}

/** The values a plan gets for what it leaves out (the plan hash covers them). */
export const PLAN_DEFAULTS = {
  data: 'generated',
  evaluation: { evalWindows: 16, testWindows: 16 },
  budget: { steps: 60, maxTrials: 80, maxHours: 4 },
  seeds: [0],
  convergence: { patience: 2, epsilon: 0.002 },
  verify: { sampleRate: 0.34, tolerance: 0.001 },
  trialTimeoutSec: 900,
  designer: { model: 'magnet', timeoutSec: 60, maxProposals: 3 },
} as const;

const TOP_KEYS = [
  'magnetResearch',
  'name',
  'base',
  'data',
  'evaluation',
  'budget',
  'phases',
  'seeds',
  'convergence',
  'verify',
  'trialTimeoutSec',
  'designer',
];
const MAX_PHASES = 64;
const MAX_VARY = 64;
const MAX_FACTORS = 16;

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const printable = (s: string) => [...s].every((ch) => ch >= ' ' && ch !== '\u007f');

/** A rule's product: `value x factor`, integers rounded to their step, other numbers to 12 significant digits. */
export function ruleValue(param: HParamKey, value: number, factor: number): number {
  const p: HParam = HPARAMS[param];
  if (p.kind === 'int') {
    const step = p.step ?? 1;
    return Math.round((value * factor) / step) * step;
  }
  return Number((value * factor).toPrecision(12));
}

/**
 * Parses and checks a plan (`where` names its file). Every error is one ConfigError line naming the path of the
 * bad value, e.g. `plan p.json: budget.steps must be an integer in [1, 1000000], not 0`.
 */
export function parsePlan(text: string, where: string): ResearchPlan {
  const at = `plan ${where}`;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${at} is not JSON: ${(err as Error).message.split('\n')[0]}`, { file: where });
  }
  const bad = (path: string, msg: string): never => {
    throw new ConfigError(`${at}: ${path} ${msg}`, { file: where, key: path });
  };
  if (!isObject(json)) throw new ConfigError(`${at}: must hold a JSON object`, { file: where });
  const raw = json;
  const keys = (o: Obj, known: readonly string[], prefix: string) => {
    for (const k of Object.keys(o)) {
      if (k.startsWith('$')) continue;
      if (!known.includes(k)) {
        const path = `${prefix}${k}`;
        const inside = prefix ? ` in ${prefix.slice(0, -1)}` : '';
        throw new ConfigError(`${at}: unknown key "${path}"; known keys${inside}: ${known.join(', ')}`, { file: where, key: path });
      }
    }
  };
  const group = <T extends Obj>(key: string, defaults: T): Obj => {
    const v = raw[key];
    if (v === undefined) return { ...defaults };
    if (!isObject(v)) return bad(key, `must be an object, not ${show(v)}`);
    keys(v, Object.keys(defaults), `${key}.`);
    return v;
  };
  const int = (o: Obj, key: string, path: string, min: number, max: number, def?: number): number => {
    const v = o[key] ?? def;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
      bad(path, `must be an integer in [${min}, ${max}], not ${show(v)}`);
    return v as number;
  };
  const num = (o: Obj, key: string, path: string, range: [number, number, boolean?], def?: number): number => {
    const [min, max, minOpen] = range;
    const v = o[key] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || (minOpen ? v <= min : v < min) || v > max)
      bad(path, `must be a number in ${minOpen ? '(' : '['}${min}, ${max}], not ${show(v)}`);
    return v as number;
  };
  const str = (o: Obj, key: string, path: string, maxLen: number, def?: string): string => {
    const v = o[key] ?? def;
    if (typeof v !== 'string' || v.length === 0 || v.length > maxLen || !printable(v))
      bad(path, `must be a string of 1 to ${maxLen} printable characters, not ${show(v)}`);
    return v as string;
  };

  keys(raw, TOP_KEYS, '');
  if (raw['magnetResearch'] !== 1) bad('magnetResearch', `must be 1 (the plan format version), not ${show(raw['magnetResearch'])}`);
  const name = str(raw, 'name', 'name', 64);
  const base = checkConfig(raw['base'] ?? {}, `${at}: base`);
  const baseResolved = checkResolved(resolveConfig(base), `${at}: base`);
  const data = str(raw, 'data', 'data', 4096, PLAN_DEFAULTS.data);

  const ev = group('evaluation', PLAN_DEFAULTS.evaluation);
  const evaluation = {
    evalWindows: int(ev, 'evalWindows', 'evaluation.evalWindows', 1, 100000, PLAN_DEFAULTS.evaluation.evalWindows),
    testWindows: int(ev, 'testWindows', 'evaluation.testWindows', 1, 100000, PLAN_DEFAULTS.evaluation.testWindows),
  };
  const bu = group('budget', PLAN_DEFAULTS.budget);
  const budget = {
    steps: int(bu, 'steps', 'budget.steps', 1, 1000000, PLAN_DEFAULTS.budget.steps),
    maxTrials: int(bu, 'maxTrials', 'budget.maxTrials', 1, 100000, PLAN_DEFAULTS.budget.maxTrials),
    maxHours: num(bu, 'maxHours', 'budget.maxHours', [0, 10000, true], PLAN_DEFAULTS.budget.maxHours),
  };
  const co = group('convergence', PLAN_DEFAULTS.convergence);
  const convergence = {
    patience: int(co, 'patience', 'convergence.patience', 1, 100, PLAN_DEFAULTS.convergence.patience),
    epsilon: num(co, 'epsilon', 'convergence.epsilon', [0, 1], PLAN_DEFAULTS.convergence.epsilon),
  };
  const ve = group('verify', PLAN_DEFAULTS.verify);
  const verify = {
    sampleRate: num(ve, 'sampleRate', 'verify.sampleRate', [0, 1], PLAN_DEFAULTS.verify.sampleRate),
    tolerance: num(ve, 'tolerance', 'verify.tolerance', [0, 1], PLAN_DEFAULTS.verify.tolerance),
  };
  const trialTimeoutSec = int(raw, 'trialTimeoutSec', 'trialTimeoutSec', 1, 86400, PLAN_DEFAULTS.trialTimeoutSec);

  const seedsRaw = raw['seeds'] ?? PLAN_DEFAULTS.seeds;
  if (!Array.isArray(seedsRaw) || seedsRaw.length < 1 || seedsRaw.length > 16)
    bad('seeds', `must be a list of 1 to 16 seeds, not ${show(seedsRaw)}`);
  const seeds = (seedsRaw as unknown[]).map((_, i) => int(seedsRaw as unknown as Obj, String(i), `seeds[${i}]`, 0, 2 ** 31 - 1));
  if (new Set(seeds).size !== seeds.length) bad('seeds', `must not repeat a seed: ${show(seeds)}`);

  const phasesRaw = raw['phases'];
  if (!Array.isArray(phasesRaw) || phasesRaw.length < 1 || phasesRaw.length > MAX_PHASES)
    bad('phases', `must be a list of 1 to ${MAX_PHASES} phases, not ${show(phasesRaw)}`);
  const phases = (phasesRaw as unknown[]).map((p, i) => parsePhase(p, `phases[${i}]`, i === (phasesRaw as unknown[]).length - 1));
  const names = new Set<string>();
  phases.forEach((p, i) => {
    if (names.has(p.name)) bad(`phases[${i}].name`, `repeats the name ${show(p.name)} (phase names are unique)`);
    names.add(p.name);
  });

  const plan: ResearchPlan = {
    magnetResearch: 1,
    name,
    base,
    data,
    evaluation,
    budget,
    phases,
    seeds,
    convergence,
    verify,
    trialTimeoutSec,
  };
  if (raw['designer'] !== undefined) plan.designer = parseDesigner(raw['designer']);
  return plan;

  function parsePhase(p: unknown, path: string, last: boolean): Phase {
    if (!isObject(p)) return bad(path, `must be an object, not ${show(p)}`);
    keys(p, ['name', 'vary', 'rule', 'final'], `${path}.`);
    const pname = str(p, 'name', `${path}.name`, 64);
    const kinds = ['vary', 'rule', 'final'].filter((k) => p[k] !== undefined);
    if (kinds.length !== 1) bad(path, `must have exactly one of vary, rule, final (has ${kinds.length ? kinds.join(', ') : 'none'})`);
    if (p['vary'] !== undefined) {
      const v = p['vary'];
      if (!Array.isArray(v) || v.length < 1 || v.length > MAX_VARY)
        bad(`${path}.vary`, `must be a list of 1 to ${MAX_VARY} configs, not ${show(v)}`);
      const vary = (v as unknown[]).map((entry, j) => {
        const w = `${at}: ${path}.vary[${j}]`;
        const c = checkConfig(entry, w);
        checkResolved(resolveConfig({ ...base, ...c }), `${w} (over base)`);
        return c;
      });
      return { name: pname, vary };
    }
    if (p['rule'] !== undefined) {
      const r = p['rule'];
      const rp = `${path}.rule`;
      if (!isObject(r)) return bad(rp, `must be an object, not ${show(r)}`);
      keys(r, ['param', 'times'], `${rp}.`);
      const param = r['param'];
      if (typeof param !== 'string' || !(NUMERIC_KEYS as string[]).includes(param))
        bad(`${rp}.param`, `must be a numeric hyperparameter (one of ${NUMERIC_KEYS.join(', ')}), not ${show(param)}`);
      const key = param as HParamKey;
      const t = r['times'];
      if (!Array.isArray(t) || t.length < 1 || t.length > MAX_FACTORS)
        bad(`${rp}.times`, `must be a list of 1 to ${MAX_FACTORS} factors, not ${show(t)}`);
      const times = (t as unknown[]).map((_, j) => num(t as unknown as Obj, String(j), `${rp}.times[${j}]`, [0, 1e6, true]));
      const bv = baseResolved[key] as number;
      times.forEach((f, j) => {
        const v = ruleValue(key, bv, f);
        if (!inRange(HPARAMS[key], v))
          bad(
            `${rp}.times[${j}]`,
            `breaks the range: base ${key} ${bv} x ${f} = ${v}, but "${key}" must be ${describeRange(HPARAMS[key])}`,
          );
      });
      return { name: pname, rule: { param: key, times } };
    }
    const f = p['final'];
    const fp = `${path}.final`;
    if (!last) bad(fp, 'is only allowed in the last phase');
    if (!isObject(f)) return bad(fp, `must be an object, not ${show(f)}`);
    keys(f, ['top', 'stepsFactor'], `${fp}.`);
    return {
      name: pname,
      final: { top: int(f, 'top', `${fp}.top`, 1, 32), stepsFactor: num(f, 'stepsFactor', `${fp}.stepsFactor`, [1, 100]) },
    };
  }

  function parseDesigner(d: unknown): DesignerSpec {
    if (!isObject(d)) return bad('designer', `must be an object, not ${show(d)}`);
    keys(d, ['url', 'model', 'apiKeyEnv', 'timeoutSec', 'maxProposals'], 'designer.');
    const url = str(d, 'url', 'designer.url', 2048);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:'))
      bad('designer.url', `must be an http or https URL, not ${show(url)}`);
    const out: DesignerSpec = {
      url: url.replace(/\/+$/, ''),
      model: str(d, 'model', 'designer.model', 200, PLAN_DEFAULTS.designer.model),
      timeoutSec: int(d, 'timeoutSec', 'designer.timeoutSec', 1, 600, PLAN_DEFAULTS.designer.timeoutSec),
      maxProposals: int(d, 'maxProposals', 'designer.maxProposals', 1, 100, PLAN_DEFAULTS.designer.maxProposals),
    };
    if (d['apiKeyEnv'] !== undefined) {
      const env = d['apiKeyEnv'];
      if (typeof env !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(env))
        bad('designer.apiKeyEnv', `must be the name of an environment variable, not ${show(env)}`);
      out.apiKeyEnv = env as string;
    }
    return out;
  }
}

/** The plan's identity: lowercase hex SHA-256 of its canonical JSON (keys sorted, defaults filled in). */
export function planHash(plan: ResearchPlan): string {
  return createHash('sha256').update(canonicalJson(plan)).digest('hex');
}

/** A result the final phase ranks. */
export interface Ranked {
  config: TrialConfig;
  evalLoss: number;
}

/** The configs a phase runs, and those it had to drop (with why). */
export interface Candidates {
  configs: TrialConfig[];
  dropped: { config: TrialConfig; reason: string }[];
}

/**
 * The configs a phase tries, given the current best (Algorithm 1's ConfigSweep): each `vary` entry merged over best;
 * best's (resolved) value of the rule's param times each factor; or the top distinct configs of `ranked` (lowest
 * eval loss first) for the final phase. Duplicates (same configKey) appear once; configs the trainer cannot build
 * are dropped with the reason.
 */
export function candidates(phase: Phase, best: TrialConfig, ranked: readonly Ranked[]): Candidates {
  const out: Candidates = { configs: [], dropped: [] };
  const seen = new Set<string>();
  const add = (config: TrialConfig) => {
    const problem = resolvedProblem(resolveConfig(config));
    if (problem) return void out.dropped.push({ config, reason: problem });
    const key = configKey(config);
    if (seen.has(key)) return;
    seen.add(key);
    out.configs.push(config);
  };
  if ('vary' in phase) {
    for (const entry of phase.vary) add({ ...best, ...entry });
  } else if ('rule' in phase) {
    const { param, times } = phase.rule;
    const value = resolveConfig(best)[param] as number;
    for (const f of times) {
      const v = ruleValue(param, value, f);
      const config = { ...best, [param]: v } as TrialConfig;
      if (!inRange(HPARAMS[param], v))
        out.dropped.push({ config, reason: `${param} ${value} x ${f} = ${v}: "${param}" must be ${describeRange(HPARAMS[param])}` });
      else add(config);
    }
  } else {
    const sorted = ranked.filter((r) => Number.isFinite(r.evalLoss)).sort((a, b) => a.evalLoss - b.evalLoss);
    for (const r of sorted) {
      if (out.configs.length >= phase.final.top) break;
      add(r.config);
    }
  }
  return out;
}

/** The training steps of one trial in `phase`: the budget's, times stepsFactor for the final phase. */
export function phaseSteps(plan: Pick<ResearchPlan, 'budget'>, phase: Phase): number {
  return 'final' in phase ? Math.max(1, Math.round(plan.budget.steps * phase.final.stepsFactor)) : plan.budget.steps;
}

/**
 * The relative improvement of a loss from `a` (before) to `b` (after): (a - b) / |a|; positive when b is lower.
 * From no result (a not finite) to a result is an infinite improvement; to no result, none.
 */
export function improvement(a: number, b: number): number {
  if (!Number.isFinite(b)) return 0;
  if (!Number.isFinite(a)) return Infinity;
  if (a === 0) return b < 0 ? Infinity : 0;
  return (a - b) / Math.abs(a);
}

/**
 * Algorithm 1, line 16: given the best-so-far eval loss after each phase (the baseline first, if the caller has
 * one), whether each of the last `patience` phases improved on the one before by less than `epsilon` (relative).
 * False while there are fewer than patience + 1 values.
 */
export function converged(bestPerPhase: readonly number[], patience: number, epsilon: number): boolean {
  const n = bestPerPhase.length;
  if (patience < 1 || n < patience + 1) return false;
  for (let i = n - patience; i < n; i++) if (improvement(bestPerPhase[i - 1]!, bestPerPhase[i]!) >= epsilon) return false;
  return true;
}
