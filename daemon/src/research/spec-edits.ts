import { ConfigError } from '../util/errors.js';
import { ffnDim, PRESETS, type ResolvedConfig } from './hparams.js';

/** What of a research winner a network spec can carry, as spec edits ("group.key", value), and what it cannot. */
export interface SpecEdits {
  edits: [string, unknown][];
  /** Hyperparameters a DiLoCo round sets its own way (its schedule, AdamW betas, weight decay), named for the operator. */
  notCarried: Record<string, unknown>;
}

const SHAPE = ['dim', 'n_layers', 'n_heads', 'n_kv_heads'] as const;

/**
 * The winner of a research run as the edits of a network spec that trains it with DiLoCo: the model preset with its
 * shape, lr -> round.innerLr, batch x grad_accum -> round.batch, context -> round.seq, warmup_frac of the trial
 * budget -> round.warmup, and the plan's data. A spec names a preset, so a winner whose shape is no preset's (or a
 * BitNet-arch or tied-embedding model) is refused by name rather than trained as something else.
 */
export function specEditsOf(w: ResolvedConfig, plan: { data: string; budget: { steps: number } }): SpecEdits {
  const preset = (Object.keys(PRESETS) as (keyof typeof PRESETS)[]).find((p) => {
    const s = PRESETS[p];
    return SHAPE.every((k) => s[k] === w[k]) && ffnDim(s) === ffnDim(w) && w.context <= s.context;
  });
  if (!preset) {
    const shape = `dim ${w.dim}, n_layers ${w.n_layers}, n_heads ${w.n_heads}, n_kv_heads ${w.n_kv_heads}, ffn ${ffnDim(w)}, context ${w.context}`;
    throw new ConfigError(
      `the winning config's model (${shape}) is no preset's shape (${Object.entries(PRESETS)
        .map(
          ([n, s]) =>
            `${n}: dim ${s.dim}, n_layers ${s.n_layers}, n_heads ${s.n_heads}, n_kv_heads ${s.n_kv_heads}, ffn ${ffnDim(s)}, context <= ${s.context}`,
        )
        .join('; ')}); a network spec names a preset, so it cannot start a DiLoCo run`,
      { key: 'model' },
    );
  }
  if (w.arch !== 'llama')
    throw new ConfigError(`the winning config uses arch ${w.arch}; a network spec trains the llama arch`, { key: 'arch' });
  if (w.tie_embeddings)
    throw new ConfigError('the winning config ties its embeddings; a network spec trains untied ones', { key: 'tie_embeddings' });
  return {
    edits: [
      ['model.preset', preset],
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
