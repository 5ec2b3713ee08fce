import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { Logger } from '../log/logger.js';
import type { Values } from '../config/schema.js';
import type { dilocoOptions } from './options.js';
import { type TrainerEvent, runTrainer } from './trainer-runner.js';

export type DilocoOptions = Values<typeof dilocoOptions>;

/** How many data slices the network's data is cut into; a node reads the slice its nodeId hashes to. */
export const DATA_SLICES = 64;

export function dataSliceOf(nodeId: string): number {
  return createHash('sha256').update(nodeId).digest().readUInt32BE(0) % DATA_SLICES;
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
  constructor(
    private readonly opts: DilocoOptions,
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv,
    private readonly onProgress: (e: TrainerEvent) => void = () => undefined,
  ) {}

  private run(args: string[], signal?: AbortSignal): Promise<TrainerEvent> {
    const threads = this.opts.threads > 0 ? ['--threads', String(this.opts.threads)] : [];
    const withThreads = ['train', 'merge', 'eval'].includes(args[0] as string) ? [...args, ...threads] : args;
    return runTrainer(withThreads, { env: this.env, log: this.log, onEvent: this.onProgress, ...(signal ? { signal } : {}) });
  }

  /** The round-0 checkpoint: bit-identical for the same preset and seed on every machine. */
  async init(out: string): Promise<string> {
    const r = await this.run(['init', '--preset', this.opts.preset, '--seed', String(this.opts.seed), '--out', out]);
    return String(r['sha256']);
  }

  async train(p: { base: string; state: string; out: string; nodeId: string; signal?: AbortSignal }): Promise<TrainResult> {
    const o = this.opts;
    const r = await this.run(
      [
        'train',
        '--base',
        p.base,
        '--steps',
        String(o.innerSteps),
        '--data',
        o.data,
        '--state',
        p.state,
        '--out',
        p.out,
        '--node',
        String(dataSliceOf(p.nodeId)),
        '--nodes',
        String(DATA_SLICES),
        '--node-id',
        p.nodeId,
        '--seed',
        String(o.seed),
        '--batch',
        String(o.batch),
        '--seq',
        String(o.seq),
        '--lr',
        String(o.innerLr),
        '--warmup',
        String(o.warmup),
        '--compression',
        o.compression,
      ],
      p.signal,
    );
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

  /**
   * Applies one gradient alone (outer lr 1, no momentum: base - delta, the sender's local model) with the
   * trainer's own checks (base hash, finite values, norm bound) and returns that model's held-out loss.
   */
  async lossAfterApplying(base: string, grad: string, tmpOut: string): Promise<number> {
    try {
      await this.run([
        'merge',
        '--base',
        base,
        '--grad',
        grad,
        '--weight',
        '1',
        '--outer-lr',
        '1',
        '--momentum',
        '0',
        '--max-norm',
        String(this.opts.maxGradNorm),
        '--out',
        tmpOut,
      ]);
      return await this.heldOutLoss(tmpOut);
    } finally {
      rmSync(tmpOut, { force: true });
    }
  }

  async merge(p: {
    base: string;
    grads: { file: string; weight: number }[];
    out: string;
  }): Promise<{ sha256: string; contributors: unknown }> {
    const args = [
      'merge',
      '--base',
      p.base,
      '--outer-lr',
      String(this.opts.outerLr),
      '--momentum',
      String(this.opts.momentum),
      '--out',
      p.out,
    ];
    for (const g of p.grads) args.push('--grad', g.file, '--weight', String(g.weight));
    const r = await this.run(args);
    return { sha256: String(r['sha256']), contributors: r['contributors'] };
  }

  async export(ckpt: string, out: string): Promise<void> {
    await this.run(['export', '--ckpt', ckpt, '--out', out]);
  }
}
