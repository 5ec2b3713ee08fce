import { ConfigError } from '../util/errors.js';
import { ffnDim, PRESETS, type ResolvedConfig } from './hparams.js';

/** What of a research winner a network spec can carry, as spec edits ("group.key", value), and what it cannot. */
export interface SpecEdits {
  edits: [string, unknown][];
  /** Hyperparameters a DiLoCo round sets its own way (its schedule, AdamW betas, weight decay), named for the operator. */
  notCarried: Record<string, unknown>;
}

/**
 * The winner of a research run as the edits of a network spec that trains it with DiLoCo: the preset whose shape it
 * has (else tiny's, or small's when wider, with `model.shape` holding every shape key that differs), lr ->
 * round.innerLr, batch x grad_accum -> round.batch, context -> round.seq, warmup_frac of the trial budget ->
 * round.warmup, and the plan's data. A BitNet-arch or tied-embedding winner is refused by name (a network trains
 * the llama arch, untied) rather than trained as something else.
 */
export function specEditsOf(w: ResolvedConfig, plan: { data: string; budget: { steps: number } }): SpecEdits {
  if (w.arch !== 'llama')
    throw new ConfigError(`the winning config uses arch ${w.arch}; a network spec trains the llama arch`, { key: 'arch' });
  if (w.tie_embeddings)
    throw new ConfigError('the winning config ties its embeddings; a network spec trains untied ones', { key: 'tie_embeddings' });
  const want: Record<string, number> = {
    dim: w.dim,
    n_layers: w.n_layers,
    n_heads: w.n_heads,
    n_kv_heads: w.n_kv_heads,
    ffn_dim: ffnDim(w),
    context: w.context,
  };
  const shapeOf = (p: keyof typeof PRESETS): Record<string, number> => ({ ...PRESETS[p], ffn_dim: ffnDim(PRESETS[p]) });
  const differs = (p: keyof typeof PRESETS) =>
    Object.keys(want).filter((k) => want[k] !== shapeOf(p)[k] && !(k === 'context' && want[k]! <= shapeOf(p)[k]!));
  const presets = Object.keys(PRESETS) as (keyof typeof PRESETS)[];
  const preset = presets.find((p) => differs(p).length === 0) ?? (w.dim > PRESETS.tiny.dim ? 'small' : 'tiny');
  const shape = differs(preset)
    .map((k) => `${k}=${want[k]}`)
    .join(',');
  return {
    edits: [
      ['model.preset', preset],
      ...(shape ? ([['model.shape', shape]] as [string, unknown][]) : []),
      ['data.source', plan.data],
      ['round.innerLr', w.lr],
      ['round.batch', w.batch * w.grad_accum],
      ['round.seq', w.context],
      ['round.warmup', Math.round(w.warmup_frac * plan.budget.steps)],
    ],
    notCarried: {
      schedule: w.schedule,
      decay_frac: w.decay_frac,
      min_lr_ratio: w.min_lr_ratio,
      weight_decay: w.weight_decay,
      wd_schedule: w.wd_schedule,
      beta1: w.beta1,
      beta2: w.beta2,
      grad_clip: w.grad_clip,
    },
  };
}
