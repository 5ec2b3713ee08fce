import { createHash } from 'node:crypto';
import { removeOutput } from './checkpoint-store.js';
import type { Logger } from '../log/logger.js';
import type { Values } from '../config/schema.js';
import type { dilocoOptions } from './options.js';
import { type TrainerEvent, runTrainer } from './trainer-runner.js';
import { TrainerWorker } from './trainer-worker.js';

export type DilocoOptions = Values<typeof dilocoOptions>;

/** The slice of the network's data a node trains on: slice `index` of `count` (the trainer's --node / --nodes). */
export interface DataSlice {
  index: number;
  count: number;
}

/**
 * A node's data slice. 'members': the position of the node (its nodeId or wallet) in the member list, so members
 * read disjoint slices; a node not on the list (it may not train) falls back to its hash. 'hash': the slice its
 * nodeId hashes to among `dataSlices` (two nodes may share one).
 */
export function dataSliceOf(node: { nodeId: string; address: string }, opts: DilocoOptions, members: readonly string[]): DataSlice {
  if (opts.dataAssignment === 'members' && members.length > 0) {
    const i = members.findIndex((m) => m === node.nodeId || m.toLowerCase() === node.address.toLowerCase());
    if (i >= 0) return { index: i, count: members.length };
    return { index: hashSlice(node.nodeId, members.length), count: members.length };
  }
  return { index: hashSlice(node.nodeId, opts.dataSlices), count: opts.dataSlices };
}

function hashSlice(nodeId: string, count: number): number {
  return createHash('sha256').update(nodeId).digest().readUInt32BE(0) % count;
}

/** What a merge is asked for (TrainerJobs.merge, and the round simulation's stand-in). */
export interface MergeRequest {
  base: string;
  grads: string[];
  out: string;
  evalSeed?: bigint;
  scale?: number;
  baseline?: boolean;
  signal?: AbortSignal;
}

export interface TrainResult {
  sha256: string;
  bytes: number;
  baseSha256: string;
  tokens: number;
  steps: number;
  lossFirst: number;
  lossLast: number;
  compression: string;
  seconds: number;
}

/** The trainer commands a round uses, with this node's options filled in. */
export class TrainerJobs {
  /**
   * Long-lived workers: training runs in the background while the round judges, merges and votes. Training on several
   * devices (opts.devices > 1: `train --devices N` starts torchrun and its ranks) runs in a process of its own per job.
   */
  private readonly workers: { train: TrainerWorker | undefined; work: TrainerWorker } | undefined;

  constructor(
    private readonly opts: DilocoOptions,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv,
    /** The data slice this node trains on (see dataSliceOf). */
    private readonly slice: DataSlice,
    private readonly onProgress: (e: TrainerEvent) => void = () => undefined,
    /** The node's shutdown signal: every job is cut when it aborts (on top of a job's own signal). */
    private readonly signal?: AbortSignal,
  ) {
    const python = opts.python;
    if (opts.persistentTrainer)
      this.workers = {
        train: opts.devices > 1 ? undefined : new TrainerWorker({ env, log, python, idleMs: opts.trainerIdleSec * 1000 }),
        work: new TrainerWorker({ env, log, python, idleMs: opts.trainerIdleSec * 1000 }),
      };
  }

  /** Stops the workers (a command in flight fails as aborted). */
  close(): void {
    this.workers?.train?.close();
    this.workers?.work.close();
  }

  private run(args: string[], own?: AbortSignal): Promise<TrainerEvent> {
    const signal = own && this.signal ? AbortSignal.any([own, this.signal]) : (own ?? this.signal);
    const threads = this.opts.threads > 0 ? ['--threads', String(this.opts.threads)] : [];
    const withThreads = ['train', 'merge', 'eval'].includes(args[0] as string) ? [...args, ...threads] : args;
    const o = { onEvent: this.onProgress, ...(signal ? { signal } : {}) };
    const worker = args[0] === 'train' ? this.workers?.train : this.workers?.work;
    if (worker) return worker.run(withThreads, o);
    return runTrainer(withThreads, { env: this.env, log: this.log, python: this.opts.python, ...o });
  }

  /** The round-0 checkpoint: bit-identical for the same preset, shape and seed on every machine. */
  async init(out: string): Promise<string> {
    const shape = this.opts.modelShape ? ['--shape', this.opts.modelShape] : [];
    const r = await this.run(['init', '--preset', this.opts.preset, ...shape, '--seed', String(this.opts.seed), '--out', out]);
    return String(r['sha256']);
  }

  /**
   * This node's pseudo-gradient of a round on `base`: H inner steps from it, or with `take` (delayed schedule) the
   * progress of the stretch trained ahead (trainAhead) as its first steps, the weights moved onto `base` and the rest
   * of the H steps trained from there.
   */
  async train(p: { base: string; state: string; out: string; nodeId: string; take?: boolean; signal?: AbortSignal }): Promise<TrainResult> {
    const o = this.opts;
    // take: the weights move to the base after the outer step our progress alone would make there (the eager update)
    const take = ['--take-ahead', '--ahead-correction', 'eager', '--outer-lr', String(o.outerLr), '--momentum', String(o.momentum)];
    const schedule = p.take ? take : o.schedule === 'delayed' ? ['--keep-weights'] : [];
    const encoding = ['--compression', o.compression, '--topk-density', String(o.topkDensity)];
    // Data parallel on several GPUs for every stretch of steps: plain, ahead, or the rest after a stretch ahead
    const devices = this.devicesArgs();
    const r = await this.run(['train', ...schedule, ...this.trainArgs(p), '--out', p.out, ...encoding, ...devices], p.signal);
    return {
      sha256: String(r['sha256']),
      bytes: Number(r['bytes']),
      baseSha256: String(r['base_sha256']),
      tokens: Number(r['tokens']),
      steps: Number(r['steps']),
      lossFirst: Number(r['loss_first']),
      lossLast: Number(r['loss_last']),
      compression: String(r['compression']),
      seconds: Number(r['seconds']),
    };
  }

  /**
   * Delayed schedule: up to H inner steps from this node's own weights (kept in its LOCAL state by the last train),
   * while its last gradient is in flight; the stretch ends early once `stopFile` exists (the next round has begun).
   * The progress waits in the state for train({ take: true }). `base` only names the model config.
   */
  async trainAhead(p: {
    base: string;
    state: string;
    nodeId: string;
    stopFile: string;
    signal?: AbortSignal;
  }): Promise<{ seconds: number; tokens: number; steps: number }> {
    const args = ['train', '--ahead', '--stop-file', p.stopFile, ...this.trainArgs(p), ...this.devicesArgs()];
    const r = await this.run(args, p.signal);
    return { seconds: Number(r['seconds']), tokens: Number(r['tokens']), steps: Number(r['steps']) };
  }

  private devicesArgs(): string[] {
    return this.opts.devices > 1 ? ['--devices', String(this.opts.devices)] : [];
  }

  /** What every train command of this node says: base, steps, data slice, state and inner hyperparameters. */
  private trainArgs(p: { base: string; state: string; nodeId: string }): string[] {
    const o = this.opts;
    const s = this.slice;
    return [
      ...['--base', p.base, '--steps', String(o.innerSteps), '--data', o.data, '--state', p.state],
      ...['--node', String(s.index), '--nodes', String(s.count), '--node-id', p.nodeId, '--seed', String(o.seed)],
      ...['--batch', String(o.batch), '--seq', String(o.seq), '--lr', String(o.innerLr), '--warmup', String(o.warmup)],
    ];
  }

  /** Held-out loss of a checkpoint (the QAT model the network trains) on a few windows. */
  async heldOutLoss(ckpt: string, windows = this.opts.verifyWindows): Promise<number> {
    const r = await this.run([
      'eval',
      '--ckpt',
      ckpt,
      '--data',
      this.opts.data,
      '--seq',
      String(this.opts.seq),
      '--max-windows',
      String(windows),
      '--modes',
      'qat',
    ]);
    return Number(r['loss_qat']);
  }

  /** Tokens one pseudo-gradient stands for: fixed by the round's configuration, never by its sender. */
  get tokensPerGradient(): number {
    return this.opts.innerSteps * this.opts.batch * this.opts.seq;
  }

  /**
   * The outer step (the network's lr and Nesterov momentum, equal weights, in the order given) with the trainer's
   * checks (base hash, finite values, norm bound). Bit-exact on every machine: members recompute it and compare
   * hashes. With `evalSeed`, also the held-out loss of the base and of the result on windows drawn by that seed.
   */
  async merge(p: MergeRequest): Promise<MergeResult> {
    const o = this.opts;
    const args = ['merge', '--base', p.base, '--outer-lr', String(o.outerLr), '--momentum', String(o.momentum), '--out', p.out];
    for (const g of p.grads) args.push('--grad', g, '--weight', '1');
    args.push('--outlier-ratio', '0', '--max-norm', String(o.maxGradNorm));
    args.push('--steps-per-grad', String(o.innerSteps), '--tokens-per-grad', String(this.tokensPerGradient));
    if (p.scale !== undefined && p.scale !== 1) args.push('--scale', String(p.scale));
    if (p.evalSeed !== undefined) {
      args.push(
        '--eval-data',
        o.data,
        '--eval-seq',
        String(o.seq),
        '--eval-windows',
        String(o.verifyWindows),
        '--eval-seed',
        p.evalSeed.toString(),
      );
      if (p.baseline) args.push('--eval-baseline');
    }
    const r = await this.run(args, p.signal);
    return {
      sha256: String(r['sha256']),
      norms: Array.isArray(r['grad_norms']) ? (r['grad_norms'] as unknown[]).map(Number) : [],
      ...(p.evalSeed !== undefined ? { lossBase: Number(r['loss_base']), lossMerged: Number(r['loss_merged']) } : {}),
      ...(p.baseline ? { lossBaseline: Number(r['loss_baseline']) } : {}),
    };
  }

  /**
   * One gradient at its share (1/`share`) of a merge, at the real scale (the network's outer lr, the base's Nesterov
   * momentum), scored on held-out windows drawn by `evalSeed` against the same step without it (the momentum alone):
   * what this gradient adds to the network's model.
   */
  async spotCheck(base: string, grad: string, tmpOut: string, evalSeed: bigint, share: number): Promise<Required<MergeResult>> {
    try {
      const r = await this.merge({ base, grads: [grad], out: tmpOut, evalSeed, scale: 1 / Math.max(1, share), baseline: true });
      return { ...r, lossBase: r.lossBase ?? NaN, lossMerged: r.lossMerged ?? NaN, lossBaseline: r.lossBaseline ?? NaN };
    } finally {
      removeOutput(tmpOut);
    }
  }

  async export(ckpt: string, out: string): Promise<void> {
    await this.run(['export', '--ckpt', ckpt, '--out', out]);
  }
}

export interface MergeResult {
  sha256: string;
  /** L2 norm of each input gradient, in the order given. */
  norms: number[];
  lossBase?: number;
  lossMerged?: number;
  /** After the step with a zero gradient (the momentum alone). */
  lossBaseline?: number;
}
