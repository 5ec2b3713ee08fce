import { ConfigError } from '../util/errors.js';
import { parsePlan, type ResearchPlan } from './plan.js';

/**
 * The plans a node knows by name. `genkidama-tiny` is the paper's 10-phase search (section 8.2, Table 6) at the
 * scale of a 2-core CPU: the tiny preset at context 64, every candidate at most dim 512, 6 layers and context 128,
 * so a 40-step trial takes about ten seconds. `micro` is a three-phase plan for tests and the quick demo.
 * Each phase lists only what it changes; the rest stays at the best config so far.
 */
const GENKIDAMA_TINY = {
  magnetResearch: 1,
  name: 'genkidama-tiny',
  base: { preset: 'tiny', dim: 256, context: 64, batch: 4, lr: 1e-3 },
  data: 'generated',
  evaluation: { evalWindows: 16, testWindows: 16 },
  budget: { steps: 40, maxTrials: 40, maxHours: 1 },
  phases: [
    // 1: wider or deeper
    {
      name: 'architecture',
      vary: [
        { dim: 256, n_layers: 2 },
        { dim: 256, n_layers: 6 },
        { dim: 512, n_layers: 2 },
        { dim: 512, n_layers: 4 },
      ],
    },
    { name: 'learning rate', rule: { param: 'lr', times: [0.5, 2, 4] } },
    // 3: two-stage weight decay (BitNet b1.58 2B4T) and the cosine schedule against WSD
    {
      name: 'training method',
      vary: [{ wd_schedule: 'two_stage' }, { schedule: 'cosine' }, { schedule: 'cosine', wd_schedule: 'two_stage' }],
    },
    {
      name: 'wsd schedule',
      vary: [
        { warmup_frac: 0.01, decay_frac: 0.15 },
        { warmup_frac: 0.1, decay_frac: 0.2 },
        { warmup_frac: 0.05, decay_frac: 0.4 },
      ],
    },
    {
      name: 'beta2 and weight decay',
      vary: [{ beta2: 0.98 }, { beta2: 0.99 }, { weight_decay: 0.05 }, { beta2: 0.98, weight_decay: 0.2 }],
    },
    // 6: at dim 256 the FFN size moves in steps of 256 (one TQ2_0 block), i.e. ffn_mult 1, 2, 3, 4
    { name: 'ffn multiplier', vary: [{ ffn_mult: 2 }, { ffn_mult: 4 }] },
    { name: 'context length', rule: { param: 'context', times: [0.5, 2] } },
    // 8: 4 query heads: 4:1 and 1:1 against the preset's 2:1
    { name: 'gqa ratio', vary: [{ n_kv_heads: 1 }, { n_kv_heads: 4 }] },
    // 9: twice the tokens per step, and the same tokens in two micro-batches
    { name: 'grad accumulation', vary: [{ grad_accum: 2 }, { batch: 2, grad_accum: 2 }] },
    { name: 'final validation', final: { top: 3, stepsFactor: 4 } },
  ],
  seeds: [0],
  convergence: { patience: 3, epsilon: 0.002 },
  verify: { sampleRate: 0.34, tolerance: 0.001 },
  trialTimeoutSec: 300,
};

const MICRO = {
  magnetResearch: 1,
  name: 'micro',
  base: { preset: 'tiny', n_layers: 2, context: 32, batch: 4, lr: 1e-3 },
  data: 'generated',
  evaluation: { evalWindows: 4, testWindows: 4 },
  budget: { steps: 12, maxTrials: 10, maxHours: 0.5 },
  phases: [
    { name: 'learning rate', rule: { param: 'lr', times: [0.5, 2] } },
    { name: 'context length', rule: { param: 'context', times: [0.5, 2] } },
    { name: 'final validation', final: { top: 2, stepsFactor: 2 } },
  ],
  seeds: [0],
  convergence: { patience: 2, epsilon: 0.002 },
  verify: { sampleRate: 0.34, tolerance: 0.001 },
  trialTimeoutSec: 120,
};

/** Parsed like a plan file, so a built-in plan obeys every rule a user's plan does (and has the same hash). */
export const BUILTIN_PLANS: Readonly<Record<string, ResearchPlan>> = Object.freeze({
  'genkidama-tiny': parsePlan(JSON.stringify(GENKIDAMA_TINY), 'builtin:genkidama-tiny'),
  micro: parsePlan(JSON.stringify(MICRO), 'builtin:micro'),
});

/** A built-in plan by name (a deep copy, so callers may change it). */
export function builtinPlan(name: string): ResearchPlan {
  const plan = Object.hasOwn(BUILTIN_PLANS, name) ? BUILTIN_PLANS[name] : undefined;
  if (!plan)
    throw new ConfigError(`unknown built-in plan ${JSON.stringify(name)}; known: ${Object.keys(BUILTIN_PLANS).join(', ')}`, {
      key: 'plan',
    });
  return structuredClone(plan);
}
