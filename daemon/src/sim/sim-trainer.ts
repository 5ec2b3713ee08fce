import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from '../log/logger.js';
import { MagnetError } from '../util/errors.js';
import { type DilocoOptions, type MergeRequest, type MergeResult, type TrainResult, TrainerJobs } from '../diloco/trainer-jobs.js';
import type { VirtualClock } from './virtual-clock.js';

/** Simulated seconds each trainer command takes (the protocol is the point here, not the math). */
export interface SimTrainerTimes {
  /** Mean seconds of H inner steps; each run draws 0.8x to 1.2x of it. */
  trainSec: number;
  /** One spot check (a merge of one gradient and two held-out evaluations). */
  spotCheckSec: number;
  /** One merge, plus mergePerGradSec for each gradient in it. */
  mergeSec: number;
  mergePerGradSec: number;
}

/** Bytes of every simulated checkpoint: a gradient may be at most twice that (context.ts maxGradientBytes). */
const CHECKPOINT_BYTES = 1024;

/**
 * The trainer port for simulated nodes: the real TrainerJobs' commands, answered in simulated time with files whose
 * bytes are a hash of their inputs, so a merge is bit-exact on every node that recomputes it. A gradient is honest
 * unless its node is `poison` (a spot check, or a merge with it, makes the held-out loss worse).
 */
export class SimTrainerJobs extends TrainerJobs {
  /** The one "work" worker (checks, merges) runs one command at a time, like the real persistent worker. */
  private workFree = 0;
  private readonly innerSteps: number;

  constructor(
    opts: DilocoOptions,
    log: Logger,
    private readonly clock: VirtualClock,
    private readonly times: SimTrainerTimes,
    private readonly rand: () => number,
    private readonly poison: boolean,
    /** The node's run: once aborted (the node went down), every command in flight is cut. */
    private readonly nodeSignal: AbortSignal,
  ) {
    super({ ...opts, persistentTrainer: false }, log, {}, { index: 0, count: 1 });
    this.innerSteps = opts.innerSteps;
  }

  override close(): void {}

  override async init(out: string): Promise<string> {
    return writeCheckpoint(out, 'genesis');
  }

  override async train(p: { base: string; state: string; out: string; nodeId: string; signal?: AbortSignal }): Promise<TrainResult> {
    const seconds = this.times.trainSec * (0.8 + 0.4 * this.rand());
    await this.wait(seconds, p.signal);
    const baseSha = basename(p.base).split('.')[0] as string;
    const body = `magnet-sim gradient\nbase ${baseSha}\nnode ${p.nodeId}\n${this.poison ? 'POISON' : 'honest'}\n`;
    writeFileSync(p.out, body.padEnd(256, '.'));
    const bytes = Buffer.byteLength(body.padEnd(256, '.'));
    return {
      sha256: createHash('sha256').update(body.padEnd(256, '.')).digest('hex'),
      bytes,
      baseSha256: baseSha,
      tokens: this.tokensPerGradient,
      steps: this.innerSteps,
      lossFirst: 3,
      lossLast: 2.9,
      compression: 'none',
      seconds,
    };
  }

  override async heldOutLoss(): Promise<number> {
    return 3;
  }

  override async merge(p: MergeRequest): Promise<MergeResult> {
    await this.work(this.times.mergeSec + this.times.mergePerGradSec * p.grads.length, p.signal);
    const h = createHash('sha256')
      .update(readFileSync(p.base))
      .update(`scale ${p.scale ?? 1}`);
    let poisoned = false;
    for (const g of p.grads) {
      const bytes = readFileSync(g);
      if (bytes.includes('POISON')) poisoned = true;
      h.update(bytes);
    }
    const sha256 = writeCheckpoint(p.out, h.digest('hex'));
    return {
      sha256,
      norms: p.grads.map(() => 1),
      ...(p.evalSeed !== undefined ? { lossBase: 3, lossMerged: poisoned ? 10 : 2.9 } : {}),
      ...(p.baseline ? { lossBaseline: 2.95 } : {}),
    };
  }

  override async spotCheck(base: string, grad: string, _tmpOut: string, _evalSeed: bigint, _share: number): Promise<Required<MergeResult>> {
    await this.work(this.times.spotCheckSec);
    const poisoned = readFileSync(grad).includes('POISON');
    return {
      sha256: createHash('sha256').update(readFileSync(base)).digest('hex'),
      norms: [1],
      lossBase: 3,
      lossMerged: poisoned ? 10 : 2.9,
      lossBaseline: 2.95,
    };
  }

  override async export(): Promise<void> {}

  private wait(seconds: number, own?: AbortSignal): Promise<void> {
    const signal = own ? AbortSignal.any([own, this.nodeSignal]) : this.nodeSignal;
    return new Promise((res, rej) => {
      if (signal.aborted) return rej(aborted());
      const id = this.clock.schedule(seconds * 1000, () => {
        signal.removeEventListener('abort', onAbort);
        res();
      });
      const onAbort = () => {
        this.clock.cancel(id);
        rej(aborted());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Queues behind the command the work worker runs now. */
  private async work(seconds: number, signal?: AbortSignal): Promise<void> {
    const start = Math.max(this.clock.now(), this.workFree);
    this.workFree = start + seconds * 1000;
    await this.wait((this.workFree - this.clock.now()) / 1000, signal);
  }
}

function aborted(): MagnetError {
  return new MagnetError('ERR_TRAINER_ABORTED', 'the simulated trainer command was cut');
}

/** Writes a checkpoint of CHECKPOINT_BYTES derived from `seed`; returns its sha256. */
function writeCheckpoint(out: string, seed: string): string {
  const body = `magnet-sim checkpoint ${seed}\n`.padEnd(CHECKPOINT_BYTES, '.');
  writeFileSync(out, body);
  return createHash('sha256').update(body).digest('hex');
}
