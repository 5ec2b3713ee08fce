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
      if (isMagnetError(err) && ['ERR_TRAINER_FILE_CORRUPT', 'ERR_TRAINER_FORMAT_VERSION', 'ERR_TRAINER_CONFIG_MISMATCH'].includes(err.code))
        return refuse(`format: ${errorMessage(err)}`);
      this.log.error({ round, sha256, err: errorMessage(err) }, 'cannot verify a gradient; will retry');
      throw err;
    }
  }
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
