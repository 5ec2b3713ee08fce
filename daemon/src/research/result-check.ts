import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../util/errors.js';
import { approxParams, ffnDim, resolveConfig, type ResolvedConfig, type TrialConfig } from './hparams.js';
import type { ResearchPlan } from './plan.js';
import type { ResearchStorage, TrainerCall } from './ports.js';
import type { ResearchRepo, TrialRow } from './research-repo.js';

/** A re-score that shows a result is not what its worker said: the worker is refused for the run. */
export class Lie extends Error {}

export interface ResultCheckDeps {
  repo: ResearchRepo;
  storage: ResearchStorage;
  trainer: TrainerCall;
  /** Where a checkpoint is put while it is scored (removed after). */
  dir: string;
  signal: AbortSignal;
}

/**
 * Checks a worker's reported result on this node: fetches its checkpoint from storage (the manifest first) and
 * scores it with the trainer on the plan's held-out sets. Returns this node's own scores. Throws Lie when the result
 * is not what its worker said (another hash, another model, other steps or seed, a checkpoint reported twice, a
 * blob far too large, an eval loss off by more than plan.verify.tolerance), and another Error when it cannot be
 * checked at all (nothing stored, storage lost it, the trainer failed): not the worker's fault as far as anyone can
 * tell.
 */
export async function checkResult(d: ResultCheckDeps, plan: ResearchPlan, t: TrialRow): Promise<{ eval: number; test: number }> {
  const score = await scoreCheckpoint(d, plan, t);
  const rel = Math.abs(score.eval - (t.evalLoss as number)) / Math.max(1e-9, score.eval);
  if (rel > plan.verify.tolerance)
    throw new Lie(
      `eval loss ${t.evalLoss} reported, ${score.eval.toFixed(4)} re-scored (${(rel * 100).toFixed(2)}% off, tolerance ${(plan.verify.tolerance * 100).toFixed(2)}%)`,
    );
  return score;
}

/** Scores a trial checkpoint from storage with `trial-score`; throws when it is missing or is not the trial's. */
async function scoreCheckpoint(d: ResultCheckDeps, plan: ResearchPlan, t: TrialRow): Promise<{ eval: number; test: number }> {
  // No stored checkpoint (its worker's storage failed, or it hides it): nothing to check, so the trial reruns.
  if (!t.manifestId) throw new Error('no_checkpoint: the result names no stored checkpoint');
  const twin = d.repo
    .trials(t.runId)
    .find(
      (o) =>
        o.trialId !== t.trialId &&
        o.checkpointSha256 === t.checkpointSha256 &&
        !(o.note ?? '').startsWith(`reused ${t.trialId}`) &&
        !(t.note ?? '').startsWith(`reused ${o.trialId}`),
    );
  if (twin) throw new Lie(`reused_checkpoint: trial ${twin.trialId} reported the same checkpoint`);
  // The manifest first: a blob that is not the checkpoint reported, or far larger than the job's model could be,
  // is never downloaded (a worker could name a huge blob to fill this node's disk).
  let stored;
  try {
    stored = await d.storage.describe(t.manifestId);
  } catch (err) {
    throw new Error(`no_checkpoint: ${errorMessage(err)}`, { cause: err });
  }
  if (stored.sha256 !== t.checkpointSha256)
    throw new Lie(`wrong_checkpoint: the stored blob is ${stored.sha256}, the result names ${t.checkpointSha256}`);
  const most = maxCheckpointBytes(resolveConfig(JSON.parse(t.config) as TrialConfig));
  if (stored.size > most) throw new Lie(`too_large: the stored checkpoint is ${stored.size} bytes, the job's model fits in ${most}`);
  await mkdir(d.dir, { recursive: true });
  const file = join(d.dir, `score-${t.runId}-${t.trialId}.ckpt`);
  try {
    try {
      await d.storage.get(t.manifestId, file);
    } catch (err) {
      throw new Error(`no_checkpoint: ${errorMessage(err)}`, { cause: err });
    }
    const r = await d.trainer(
      [
        'trial-score',
        '--ckpt',
        file,
        '--data',
        plan.data,
        '--eval-windows',
        String(plan.evaluation.evalWindows),
        '--test-windows',
        String(plan.evaluation.testWindows),
      ],
      d.signal,
    );
    if (r['checkpoint_sha256'] !== t.checkpointSha256)
      throw new Lie(`wrong_checkpoint: stored checkpoint is ${String(r['checkpoint_sha256'])}, the result names ${t.checkpointSha256}`);
    const wrong = architectureMismatch(JSON.parse(t.config) as TrialConfig, r['model']);
    if (wrong) throw new Lie(`wrong_config: the checkpoint is not the job's model (${wrong})`);
    if (r['steps'] !== t.steps || r['seed'] !== t.seed)
      throw new Lie(
        `wrong_run: the checkpoint says ${String(r['steps'])} steps with seed ${String(r['seed'])}, the job named ${t.steps} and ${t.seed}`,
      );
    return { eval: Number(r['eval_loss']), test: Number(r['test_loss']) };
  } finally {
    await rm(file, { force: true });
  }
}

/**
 * How a checkpoint's model differs from the config its trial named (undefined when it is the same model). Only the
 * shape can be read back from a checkpoint; the optimizer settings are checked by what the loss re-scores to.
 */
export function architectureMismatch(job: TrialConfig, trained: unknown): string | undefined {
  if (!trained || typeof trained !== 'object') return 'the checkpoint names no trial config';
  const t = trained as Record<string, unknown>;
  const want = resolveConfig(job);
  const expect: Record<string, unknown> = {
    dim: want.dim,
    n_layers: want.n_layers,
    n_heads: want.n_heads,
    n_kv_heads: want.n_kv_heads,
    context: want.context,
    arch: want.arch,
    ffn_dim: ffnDim(want),
  };
  const bad = Object.keys(expect).find((k) => t[k] !== expect[k]);
  return bad ? `${bad} ${JSON.stringify(t[bad])}, the job named ${JSON.stringify(expect[bad])}` : undefined;
}

/** The most bytes a trial checkpoint of config `c` may take: float32 weights, twice over, plus header room. */
export function maxCheckpointBytes(c: ResolvedConfig): number {
  return 8 * approxParams(c) + 8 * 1024 * 1024;
}
