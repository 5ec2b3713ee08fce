import { statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import type { Logger } from '../log/logger.js';
import { errorMessage, isMagnetError } from '../util/errors.js';
import type { GradientRepository, GradientRow, RoundRow } from './round-repo.js';
import type { DilocoOptions, TrainerJobs } from './trainer-jobs.js';

export interface Verdict {
  nodeId: string;
  verdict: 'accepted' | 'refused';
  reason: string;
  /** Held-out loss of the base minus that of base - delta (positive: the gradient helps). */
  lossDelta: number;
  /** False for the leader's own gradient: it is not spot-checked (a leader cannot gain by checking itself). */
  spotChecked: boolean;
}

/**
 * The leader's checks on a gradient before it counts: the file arrived whole (the data plane checked its
 * sha256), its size is plausible, and the trainer accepts it against the round's base (same base hash, finite
 * values, norm within bounds); then a spot check of its effect on a small held-out batch.
 */
export class Verifier {
  private baseLoss = new Map<string, number>();

  constructor(
    private readonly opts: DilocoOptions,
    private readonly jobs: TrainerJobs,
    private readonly grads: GradientRepository,
    private readonly log: Logger,
  ) {}

  async verifyPending(
    row: RoundRow,
    fileOf: (g: GradientRow) => string | undefined,
    basePath: string,
    onVerdict: (v: Verdict) => void,
  ): Promise<void> {
    for (const g of this.grads.forRound(row.round)) {
      if (g.status !== 'received') continue;
      const file = fileOf(g);
      if (!file) continue; // not arrived yet: the sender pushes before it signals, or storage catches up
      const v = await this.check(row, g, file, basePath);
      this.grads.setVerdict(row.round, g.nodeId, v.verdict, v.verdict === 'refused' ? v.reason : null);
      onVerdict(v);
    }
  }

  private async check(row: RoundRow, g: GradientRow, file: string, basePath: string): Promise<Verdict> {
    const refuse = (reason: string): Verdict => ({ nodeId: g.nodeId, verdict: 'refused', reason, lossDelta: 0, spotChecked: true });
    const size = statSync(file).size;
    const baseSize = statSync(basePath).size;
    // A pseudo-gradient holds at most one fp32 value per parameter, like the checkpoint's weights.
    if (size !== g.size) return refuse(`size: announced ${g.size} bytes, received ${size}`);
    if (size > baseSize * 2) return refuse(`size: ${size} bytes for a ${baseSize}-byte checkpoint`);
    if (![g.lossBefore, g.lossAfter].every((x) => x === null || Number.isFinite(x))) return refuse('claims: non-finite losses claimed');
    // The leader's own gradient skips the spot check (two trainer runs, a third of a round's verification time);
    // the merge still refuses non-finite values and out-of-bound norms, and the chain part never lets a leader
    // claim its own receipt.
    if (g.nodeId === row.leader)
      return {
        nodeId: g.nodeId,
        verdict: 'accepted',
        reason: 'own',
        lossDelta: (g.lossBefore ?? 0) - (g.lossAfter ?? 0),
        spotChecked: false,
      };
    try {
      const before = await this.baseLossOf(basePath);
      const after = await this.jobs.lossAfterApplying(basePath, file, join(dirname(file), `verify-${g.sha256}.tmp.safetensors`));
      if (!Number.isFinite(after)) return refuse("spot_check: the sender's model gives a non-finite loss");
      if (after > before + this.opts.verifyLossTolerance)
        return refuse(`spot_check: held-out loss ${after.toFixed(4)} is worse than the base's ${before.toFixed(4)}`);
      return { nodeId: g.nodeId, verdict: 'accepted', reason: 'ok', lossDelta: before - after, spotChecked: true };
    } catch (err) {
      if (isMagnetError(err) && err.code.startsWith('ERR_TRAINER_GRAD'))
        return refuse(`${err.code.slice('ERR_TRAINER_'.length).toLowerCase()}: ${errorMessage(err)}`);
      if (
        isMagnetError(err) &&
        (err.code === 'ERR_TRAINER_FILE_CORRUPT' || err.code === 'ERR_TRAINER_FORMAT_VERSION' || err.code === 'ERR_TRAINER_CONFIG_MISMATCH')
      ) {
        return refuse(`format: ${errorMessage(err)}`);
      }
      this.log.error({ round: row.round, sender: g.nodeId, err: errorMessage(err) }, 'cannot verify a gradient; will retry');
      throw err;
    }
  }

  private async baseLossOf(basePath: string): Promise<number> {
    let v = this.baseLoss.get(basePath);
    if (v === undefined) {
      v = await this.jobs.heldOutLoss(basePath);
      this.baseLoss.set(basePath, v);
    }
    return v;
  }
}
