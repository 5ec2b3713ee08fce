import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { errorMessage, isMagnetError } from '../util/errors.js';
import type { DilocoOptions, TrainerJobs } from './trainer-jobs.js';

export interface SpotVerdict {
  verdict: 'accepted' | 'refused';
  /** `ok`, or `<reason>: <detail>` where reason is a stable label (size, spot_check, grad_nonfinite, grad_outlier, format). */
  reason: string;
  /** Held-out loss after the outer step without this gradient minus with it, at its share (> 0: it helps). */
  lossDelta: number;
  norm: number;
}

/** A merge scored against the momentum alone (see Verifier.judgeMerge). */
export interface MergeJudgement {
  sha256: string;
  lossParent: number;
  lossMerged: number;
  /** The same outer step with no gradient at all: the momentum alone. */
  lossMomentum: number;
  /** The gradients make the model worse than the momentum alone by more than the tolerance (or the loss is not finite). */
  worse: boolean;
}

/**
 * Spot checks of one pseudo-gradient, the same for the leader (every gradient it received) and for the checker (the
 * leader's own): the file is the announced size and plausible for the model, the trainer accepts it against the
 * round's base (same base hash, finite values, norm bound), and the model after the real outer step with it alone
 * (the network's outer lr and momentum) is not worse on held-out windows than the base. The windows are drawn after
 * submission, from a seed of the round, the gradient's hash and a secret of this node, so a sender cannot tune its
 * gradient to them.
 */
export class Verifier {
  private readonly secret = randomBytes(16);

  constructor(
    private readonly opts: DilocoOptions,
    private readonly jobs: TrainerJobs,
    private readonly log: Logger,
  ) {}

  /** Windows seed for (round, sha256): 64 bits of sha256(secret ‖ round ‖ sha256). */
  seed(round: number, sha256: string): bigint {
    const h = createHash('sha256').update(this.secret).update(`${round}:${sha256}`).digest();
    return h.readBigUInt64BE(0);
  }

  /** `share`: how many gradients the round's merge is expected to average (this one enters at 1/share). */
  async check(round: number, basePath: string, file: string, sha256: string, announcedSize: number, share: number): Promise<SpotVerdict> {
    const refuse = (reason: string, norm = NaN): SpotVerdict => ({ verdict: 'refused', reason, lossDelta: 0, norm });
    const size = statSync(file).size;
    const baseSize = statSync(basePath).size;
    if (size !== announcedSize) return refuse(`size: announced ${announcedSize} bytes, received ${size}`);
    if (size > baseSize * 2) return refuse(`size: ${size} bytes for a ${baseSize}-byte checkpoint`);
    try {
      const tmp = join(dirname(file), `verify-${sha256}-${process.pid}.tmp.safetensors`);
      const r = await this.jobs.spotCheck(basePath, file, tmp, this.seed(round, sha256), share);
      const norm = r.norms[0] ?? NaN;
      if (!Number.isFinite(r.lossMerged)) return refuse('spot_check: the model after this gradient gives a non-finite loss', norm);
      if (r.lossMerged > r.lossBaseline + this.opts.verifyLossTolerance)
        return refuse(
          `spot_check: held-out loss with this gradient at its 1/${share} share is ${r.lossMerged.toFixed(4)}, without it ${r.lossBaseline.toFixed(4)}`,
          norm,
        );
      return { verdict: 'accepted', reason: 'ok', lossDelta: r.lossBaseline - r.lossMerged, norm };
    } catch (err) {
      if (isMagnetError(err) && err.code.startsWith('ERR_TRAINER_GRAD'))
        return refuse(`${err.code.slice('ERR_TRAINER_'.length).toLowerCase()}: ${errorMessage(err)}`);
      if (
        isMagnetError(err) &&
        ['ERR_TRAINER_FILE_CORRUPT', 'ERR_TRAINER_FORMAT_VERSION', 'ERR_TRAINER_CONFIG_MISMATCH'].includes(err.code)
      )
        return refuse(`format: ${errorMessage(err)}`);
      this.log.error({ round, sha256, err: errorMessage(err) }, 'cannot verify a gradient; will retry');
      throw err;
    }
  }

  /**
   * The outer step over `grads` (equal weights) at 2^-`damping` of their mean, written to `out`, scored on this
   * node's windows for the round against the same step with no gradient at all. The momentum is certified state no
   * leader chooses, and Nesterov momentum may honestly overshoot after a large step, so the yardstick for what the
   * chosen gradients do is the momentum alone, not the parent. `slack` is the share of the tolerance allowed: a
   * leader keeps half of it in reserve, since its members score the same merge on other windows.
   */
  async judgeMerge(
    round: number,
    basePath: string,
    parentSha256: string,
    grads: string[],
    out: string,
    damping: number,
    slack = 1,
  ): Promise<MergeJudgement> {
    const r = await this.jobs.merge({
      base: basePath,
      grads,
      out,
      evalSeed: this.seed(round, parentSha256),
      baseline: true,
      scale: 2 ** -damping,
    });
    const j = { sha256: r.sha256, lossParent: r.lossBase ?? NaN, lossMerged: r.lossMerged ?? NaN, lossMomentum: r.lossBaseline ?? NaN };
    return { ...j, worse: !Number.isFinite(j.lossMerged) || j.lossMerged > j.lossMomentum + slack * this.opts.verifyLossTolerance };
  }
}

/** `merge_worse` detail for a judgement. */
export function worseDetail(j: MergeJudgement, damping: number): string {
  const step = damping ? `1/${2 ** damping} of the outer step` : 'the outer step';
  return `with ${step} the held-out loss is ${j.lossMerged.toFixed(4)}, with the momentum alone ${j.lossMomentum.toFixed(4)} (parent ${j.lossParent.toFixed(4)})`;
}

/** The reason label of a verdict (`spot_check: held-out…` -> `spot_check`). */
export function reasonLabel(reason: string): string {
  return reason.split(':')[0] ?? reason;
}

/** Indices of the values more than `ratio` times the median of the others (norm outliers); none when ratio is 0. */
export function outliers(norms: number[], ratio: number): number[] {
  if (ratio <= 0 || norms.length < 2) return [];
  const out: number[] = [];
  norms.forEach((n, i) => {
    const others = norms.filter((_, j) => j !== i).sort((a, b) => a - b);
    const mid = others.length / 2;
    const median = others.length % 2 ? (others[Math.floor(mid)] as number) : ((others[mid - 1] as number) + (others[mid] as number)) / 2;
    if (median > 0 && n > ratio * median) out.push(i);
  });
  return out;
}
