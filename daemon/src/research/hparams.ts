import { canonicalJson } from '../util/canonical-json.js';
import { ConfigError } from '../util/errors.js';

/**
 * The trainer's hyperparameters as the Python `trial` command takes them: a JSON object with these snake_case keys,
 * every one optional there (a missing key takes the preset's value, then the trainer's default). This table is the
 * one description of their types and ranges on the daemon side: plans, the strategy designer's answers and the
 * configs handed to trainer nodes are all checked against it.
 */

export type HParamGroup = 'architecture' | 'optimizer' | 'schedule' | 'batch';

/** One hyperparameter: its kind and allowed range, its group (a phase varies one group) and what it means. */
export type HParam =
  | { kind: 'int'; min: number; max: number; step?: number; group: HParamGroup; description: string }
  | { kind: 'number'; min: number; max: number; minOpen?: boolean; maxOpen?: boolean; group: HParamGroup; description: string }
  | { kind: 'enum'; values: readonly string[]; group: HParamGroup; description: string }
  | { kind: 'boolean'; group: HParamGroup; description: string };

export const HPARAMS = {
  preset: {
    kind: 'enum',
    values: ['tiny', 'small'],
    group: 'architecture',
    description: 'model shape the other architecture keys override',
  },
  dim: { kind: 'int', min: 256, max: 4096, step: 256, group: 'architecture', description: 'model width (hidden size)' },
  n_layers: { kind: 'int', min: 1, max: 64, group: 'architecture', description: 'number of transformer blocks (depth)' },
  n_heads: { kind: 'int', min: 1, max: 64, group: 'architecture', description: 'attention query heads' },
  n_kv_heads: { kind: 'int', min: 1, max: 64, group: 'architecture', description: 'key/value heads (GQA ratio n_heads / n_kv_heads)' },
  ffn_mult: { kind: 'number', min: 0.5, max: 8, group: 'architecture', description: 'FFN hidden size as a multiple of dim' },
  context: { kind: 'int', min: 16, max: 4096, group: 'architecture', description: 'context length in tokens (training sequence length)' },
  arch: {
    kind: 'enum',
    values: ['llama', 'bitnet'],
    group: 'architecture',
    description: 'block layout: llama (SiLU FFN) or bitnet (ReLU² FFN, sub-norms)',
  },
  tie_embeddings: { kind: 'boolean', group: 'architecture', description: 'share the input embedding and the output head' },
  lr: { kind: 'number', min: 0, max: 1, minOpen: true, group: 'optimizer', description: 'peak learning rate (AdamW)' },
  schedule: { kind: 'enum', values: ['wsd', 'cosine', 'constant'], group: 'schedule', description: 'learning-rate schedule' },
  warmup_frac: { kind: 'number', min: 0, max: 0.5, group: 'schedule', description: 'share of the steps spent warming up' },
  decay_frac: { kind: 'number', min: 0, max: 1, group: 'schedule', description: 'share of the steps spent decaying (WSD)' },
  min_lr_ratio: { kind: 'number', min: 0, max: 1, group: 'schedule', description: 'final learning rate as a share of the peak' },
  weight_decay: { kind: 'number', min: 0, max: 1, group: 'optimizer', description: 'AdamW weight decay' },
  wd_schedule: {
    kind: 'enum',
    values: ['constant', 'two_stage'],
    group: 'optimizer',
    description: 'weight decay held constant, or two-stage (off for the decay phase, as BitNet b1.58 2B4T)',
  },
  beta1: { kind: 'number', min: 0, max: 1, maxOpen: true, group: 'optimizer', description: 'AdamW beta1' },
  beta2: { kind: 'number', min: 0, max: 1, maxOpen: true, group: 'optimizer', description: 'AdamW beta2' },
  grad_clip: { kind: 'number', min: 0, max: 100, group: 'optimizer', description: 'gradient norm clip (0: none)' },
  batch: { kind: 'int', min: 1, max: 1024, group: 'batch', description: 'sequences per micro-batch' },
  grad_accum: { kind: 'int', min: 1, max: 64, group: 'batch', description: 'micro-batches accumulated per optimizer step' },
} as const satisfies Record<string, HParam>;

export type HParamKey = keyof typeof HPARAMS;
type ValueOf<P> = P extends { kind: 'enum'; values: readonly (infer V)[] } ? V : P extends { kind: 'boolean' } ? boolean : number;

/** A trial's hyperparameters; absent keys take the preset's value, then the trainer's default. */
export type TrialConfig = { -readonly [K in HParamKey]?: ValueOf<(typeof HPARAMS)[K]> };
/** A config with every key filled in: what a trial actually trains. */
export type ResolvedConfig = Required<TrialConfig>;

export const HPARAM_KEYS = Object.keys(HPARAMS) as HParamKey[];
/** The keys a rule phase may multiply. */
export const NUMERIC_KEYS = HPARAM_KEYS.filter((k) => HPARAMS[k].kind === 'int' || HPARAMS[k].kind === 'number');

/** Shape values of the presets (python/magnet_trainer/model.py PRESETS; ffn_dim = dim * ffn_mult). */
export const PRESETS = {
  tiny: { dim: 256, n_layers: 4, n_heads: 4, n_kv_heads: 2, ffn_mult: 3, context: 256 },
  small: { dim: 512, n_layers: 8, n_heads: 8, n_kv_heads: 4, ffn_mult: 3, context: 512 },
} as const satisfies Record<string, TrialConfig>;

/** The trainer's defaults for everything a preset does not fix. */
export const TRAINER_DEFAULTS = {
  preset: 'tiny',
  arch: 'llama',
  tie_embeddings: false,
  lr: 1e-3,
  schedule: 'wsd',
  warmup_frac: 0.05,
  decay_frac: 0.2,
  min_lr_ratio: 0.1,
  weight_decay: 0.1,
  wd_schedule: 'constant',
  beta1: 0.9,
  beta2: 0.95,
  grad_clip: 1,
  batch: 4,
  grad_accum: 1,
} as const satisfies TrialConfig;

/** How the allowed values of a hyperparameter are written in messages and in the designer's prompt. */
export function describeRange(p: HParam): string {
  switch (p.kind) {
    case 'int':
      return p.step ? `an integer multiple of ${p.step} in [${p.min}, ${p.max}]` : `an integer in [${p.min}, ${p.max}]`;
    case 'number':
      return `a number in ${p.minOpen ? '(' : '['}${p.min}, ${p.max}${p.maxOpen ? ')' : ']'}`;
    case 'enum':
      return `one of ${p.values.join(', ')}`;
    case 'boolean':
      return 'true or false';
  }
}

/** Whether `v` is an allowed value of `p`. */
export function inRange(p: HParam, v: unknown): boolean {
  switch (p.kind) {
    case 'int':
      return Number.isInteger(v) && (v as number) >= p.min && (v as number) <= p.max && (!p.step || (v as number) % p.step === 0);
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return false;
      return (p.minOpen ? v > p.min : v >= p.min) && (p.maxOpen ? v < p.max : v <= p.max);
    }
    case 'enum':
      return typeof v === 'string' && p.values.includes(v);
    case 'boolean':
      return typeof v === 'boolean';
  }
}

/** A value as one short line for a message. */
export function show(v: unknown): string {
  const s = v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * Checks a (partial) config: an object whose keys are known hyperparameters with allowed values. `where` starts the
 * one-line message of the ConfigError (e.g. `plan p.json: phases[2].vary[1]`), which then names the key and value.
 */
export function checkConfig(obj: unknown, where: string): TrialConfig {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new ConfigError(`${where}: a config must be an object of hyperparameters, not ${show(obj)}`, { where });
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k.startsWith('$')) continue; // "$comment"
    if (!Object.hasOwn(HPARAMS, k))
      throw new ConfigError(`${where}: unknown hyperparameter ${show(k)} (known: ${HPARAM_KEYS.join(', ')})`, { where, key: k });
    const p: HParam = HPARAMS[k as HParamKey];
    if (!inRange(p, v)) throw new ConfigError(`${where}: "${k}" must be ${describeRange(p)}, not ${show(v)}`, { where, key: k });
    out[k] = v;
  }
  return out as TrialConfig;
}

/** Every key filled: the preset's shape under the explicit values, then the trainer's defaults. */
export function resolveConfig(c: TrialConfig): ResolvedConfig {
  const preset = c.preset ?? TRAINER_DEFAULTS.preset;
  const out: Record<string, unknown> = { ...TRAINER_DEFAULTS, ...PRESETS[preset] };
  for (const [k, v] of Object.entries(c)) if (v !== undefined && Object.hasOwn(HPARAMS, k)) out[k] = v;
  out['preset'] = preset;
  return out as ResolvedConfig;
}

/**
 * The FFN hidden size the trainer builds (python/magnet_trainer/research.py): dim * ffn_mult rounded to a multiple of
 * 256 (the TQ2_0 block), halves to even as Python's round(), at least 256.
 */
export function ffnDim(c: Pick<ResolvedConfig, 'dim' | 'ffn_mult'>): number {
  const x = (c.dim * c.ffn_mult) / 256;
  const r = Math.round(x);
  const blocks = Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  return Math.max(256, blocks * 256);
}

/** Why a resolved config cannot be trained (the rules between keys), or null when it can. */
export function resolvedProblem(c: ResolvedConfig): string | null {
  if (c.dim % c.n_heads !== 0) return `dim ${c.dim} is not a multiple of n_heads ${c.n_heads}`;
  if (c.n_heads % c.n_kv_heads !== 0) return `n_heads ${c.n_heads} is not a multiple of n_kv_heads ${c.n_kv_heads}`;
  if ((c.dim / c.n_heads) % 2 !== 0)
    return `the head size dim / n_heads = ${c.dim}/${c.n_heads} = ${c.dim / c.n_heads} is odd (RoPE rotates pairs)`;
  if (c.warmup_frac + c.decay_frac > 1) return `warmup_frac ${c.warmup_frac} + decay_frac ${c.decay_frac} is more than 1`;
  return null;
}

/** Throws a one-line ConfigError starting with `where` when the resolved config breaks a rule between keys. */
export function checkResolved(c: ResolvedConfig, where: string): ResolvedConfig {
  const problem = resolvedProblem(c);
  if (problem) throw new ConfigError(`${where}: ${problem}`, { where });
  return c;
}

/** The byte-level tokenizer's vocabulary (256 bytes + BOS, padded): what a trial's embeddings are sized by. */
const BYTE_VOCAB = 258;

/**
 * About how many parameters a config trains (attention with GQA, SwiGLU FFN, untied embeddings): what a worker
 * bounds before it accepts a trial (a member could otherwise ask it for a model its memory cannot hold).
 */
export function approxParams(c: ResolvedConfig): number {
  const kv = c.n_kv_heads * (c.dim / c.n_heads);
  const layer = 2 * c.dim * c.dim + 2 * c.dim * kv + 3 * c.dim * ffnDim(c) + 2 * c.dim;
  return c.n_layers * layer + (c.tie_embeddings ? 1 : 2) * BYTE_VOCAB * c.dim + c.dim;
}

export { canonicalJson };

/** Tokens a trial of `steps` optimizer steps trains on: what a worker's limit and its credit count. */
export function trialTokens(c: Pick<ResolvedConfig, 'batch' | 'grad_accum' | 'context'>, steps: number): number {
  return steps * c.batch * c.grad_accum * c.context;
}

/**
 * The same string for two configs that train the same thing: the canonical JSON of the resolved config without
 * `preset`, which every resolved config overrides key by key (so `{preset: "small", dim: 256, ...tiny's shape}` and
 * `{}` are one config).
 */
export function configKey(c: TrialConfig): string {
  const r: TrialConfig = resolveConfig(c);
  delete r.preset;
  return canonicalJson(r);
}
