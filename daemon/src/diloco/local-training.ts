import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { errorMessage } from '../util/errors.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { GradientReady } from './messages.js';
import type { PhaseClock } from './phase-clock.js';
import type { RoundNetwork, RoundSigner, RoundStorage } from './ports.js';
import { gradientDigest } from './statements.js';
import type { GradientRepository, RoundRow } from './round-repo.js';
import type { DilocoOptions, TrainerJobs } from './trainer-jobs.js';

export interface LocalTrainingDeps {
  nodeId: string;
  home: string;
  /** Where this node's own gradient files live, named by their hash. */
  gradDir: string;
  opts: DilocoOptions;
  jobs: TrainerJobs;
  storage: RoundStorage;
  network: RoundNetwork;
  grads: GradientRepository;
  ckpts: CheckpointStore;
  phases: PhaseClock;
  signer: RoundSigner;
  log: Logger;
  /** Makes the round's base checkpoint local before training starts. */
  ensureBase: (row: RoundRow) => Promise<void>;
}

export interface TrainSummary {
  round: number;
  lossFirst: number;
  lossLast: number;
  tokens: number;
  seconds: number;
}

/**
 * This node's own part of a round: trains its pseudo-gradient on the round's base in the trainer subprocess (one job
 * at a time, in the background), stores it, and pushes it to the round's leader.
 */
export class LocalTraining {
  private job: { round: number; done: Promise<void> } | undefined;
  /** Delayed schedule: the stretch trained ahead, from our own weights, for the round after our last gradient's. */
  private ahead: { forRound: number; done: Promise<{ seconds: number; steps: number } | undefined>; abort: AbortController } | undefined;
  private abort = new AbortController();
  /** When this node last started a round's training: the time between starts is the round's period. */
  private lastStart: { round: number; at: number } | undefined;
  /** Seconds the trainer ran jobs (train, ahead, take) since the last round start: `busy` of the next period. */
  private busySeconds = 0;
  last: TrainSummary | undefined;

  constructor(private readonly d: LocalTrainingDeps) {}

  /** The round being trained now, if any. */
  get running(): { round: number } | undefined {
    return this.job ? { round: this.job.round } : undefined;
  }

  /** Allows training again after a stop. */
  reset(): void {
    this.abort = new AbortController();
  }

  /** Kills the trainer subprocess and waits for the job to end. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.job?.done.catch(() => undefined);
    await this.ahead?.done;
    this.ahead = undefined;
  }

  /** Starts training this node's gradient for `row` unless a job is running; the gradient is recorded when done. */
  start(row: RoundRow): void {
    if (this.job) return;
    const r = row.round;
    const t0 = Date.now();
    // period: from the start of our last round to this one's; busy: the trainer's job seconds in it (a job counts
    // where it ends), so 1 - busy/period is the share of the time this node did not train, on either schedule
    if (this.lastStart?.round === r - 1) {
      this.d.phases.record(r, 'period', (t0 - this.lastStart.at) / 1000);
      this.d.phases.record(r, 'busy', this.busySeconds);
    }
    this.lastStart = { round: r, at: t0 };
    this.busySeconds = 0;
    const out = join(this.d.gradDir, `${r}.tmp.safetensors`);
    // A trainer killed mid-save leaves its temp file (never a final one): clear them before the next run.
    for (const f of readdirSync(this.d.gradDir))
      if (f.startsWith('.') && f.endsWith('.tmp')) rmSync(join(this.d.gradDir, f), { force: true });
    const done = (async () => {
      await this.d.ensureBase(row);
      const ahead = await this.takeAhead(r);
      const res = await this.timed(
        this.d.jobs.train({
          base: this.d.ckpts.path(row.baseSha256),
          state: this.statePath,
          out,
          nodeId: this.d.nodeId,
          take: ahead !== undefined,
          signal: this.abort.signal,
        }),
      );
      const file = join(this.d.gradDir, `${res.sha256}.safetensors`);
      renameSync(out, file);
      // train: the trainer's seconds for this gradient (the stretch ahead ran before the round began); wait: how
      // long the round's own training held it up, what the delayed schedule cuts to the steps not trained ahead
      this.d.phases.record(r, 'train', ahead ? ahead.seconds + res.seconds : (Date.now() - t0) / 1000);
      this.d.phases.record(r, 'wait', (Date.now() - t0) / 1000);
      if (this.d.opts.schedule === 'delayed') this.trainAhead(r + 1, row.baseSha256);
      // A gradient is needed once, by the round's leader: pushed to it (submit), not archived unless asked for.
      const { manifestId } = this.d.opts.storeGradients
        ? await this.d.storage.put(file, { kind: 'gradient', round: r }).catch((err: unknown) => {
            this.d.log.warn({ err: errorMessage(err) }, 'gradient not stored in shared storage; the direct push still carries it');
            return { manifestId: null as string | null };
          })
        : { manifestId: null };
      this.d.grads.add({
        round: r,
        nodeId: this.d.nodeId,
        sha256: res.sha256,
        manifestId,
        size: res.bytes,
        lossBefore: res.lossFirst,
        lossAfter: res.lossLast,
        tokens: res.tokens,
        steps: res.steps,
        status: 'received',
        reason: null,
        path: file,
        statementSig: null,
      });
      this.last = { round: r, lossFirst: res.lossFirst, lossLast: res.lossLast, tokens: res.tokens, seconds: res.seconds };
      this.d.log.info(
        {
          round: r,
          sha256: res.sha256,
          loss: [res.lossFirst, res.lossLast],
          seconds: res.seconds,
          ahead: ahead !== undefined,
          stepsAhead: ahead?.steps,
        },
        'local training done',
      );
    })()
      .catch((err: unknown) => {
        rmSync(out, { force: true });
        if (!this.abort.signal.aborted) this.d.log.error({ round: r, err: errorMessage(err) }, 'local training failed');
      })
      .finally(() => {
        this.job = undefined;
      });
    this.job = { round: r, done };
  }

  private async timed<T>(job: Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
      return await job;
    } finally {
      this.busySeconds += (Date.now() - t0) / 1000;
    }
  }

  private get statePath(): string {
    return join(this.d.home, 'trainer-local.safetensors');
  }

  /** Created when the next round begins: the stretch ahead ends before its next step (the trainer checks each step). */
  private get stopPath(): string {
    return join(this.d.home, 'trainer-ahead.stop');
  }

  /**
   * Delayed schedule: trains the next round's first steps now, from our own weights, while this round's gradient
   * travels, is checked and merged, until that round begins (or all H steps are done). One stretch at a time; its
   * progress waits in the LOCAL state until round `forRound` starts.
   */
  private trainAhead(forRound: number, baseSha256: string): void {
    const abort = new AbortController();
    const signal = AbortSignal.any([abort.signal, this.abort.signal]);
    rmSync(this.stopPath, { force: true });
    const p = { base: this.d.ckpts.path(baseSha256), state: this.statePath, nodeId: this.d.nodeId, stopFile: this.stopPath, signal };
    const done = this.timed(this.d.jobs.trainAhead(p)).catch((err: unknown) => {
      if (!signal.aborted)
        this.d.log.warn({ forRound, err: errorMessage(err) }, 'training ahead failed: the next round trains from its base');
      return undefined;
    });
    this.ahead = { forRound, done, abort };
  }

  /**
   * The stretch trained ahead for round `r`, stopped now that the round has begun (its seconds and steps), or
   * undefined: there is none, it failed, or it was trained for another round (we missed one): such progress is
   * dropped by rule, never applied late.
   */
  private async takeAhead(r: number): Promise<{ seconds: number; steps: number } | undefined> {
    const a = this.ahead;
    this.ahead = undefined;
    if (!a) return undefined;
    if (a.forRound !== r) {
      a.abort.abort();
      await a.done;
      this.d.log.info({ round: r, trainedFor: a.forRound }, 'progress trained ahead was for another round: dropped');
      return undefined;
    }
    writeFileSync(this.stopPath, `${r}\n`);
    try {
      return await a.done;
    } finally {
      rmSync(this.stopPath, { force: true });
    }
  }

  /** Our gradient of `row` (trained on its base), if it is on disk. */
  own(row: RoundRow): { sha256: string; size: number; path: string; manifestId: string | null } | undefined {
    const g = this.d.grads.get(row.round, this.d.nodeId);
    if (!g?.path || !existsSync(g.path) || g.status === 'refused') return undefined;
    return { sha256: g.sha256, size: g.size, path: g.path, manifestId: g.manifestId };
  }

  /**
   * Deletes this node's gradient files of rounds before `settled` (the latest certified round): nothing asks for them
   * once their round is settled. Returns how many were deleted.
   */
  prune(settled: number): number {
    let n = 0;
    for (const g of this.d.grads.withFilesBefore(settled, this.d.nodeId)) {
      rmSync(g.path, { force: true });
      this.d.grads.forgetFile(g.round, this.d.nodeId);
      n++;
    }
    return n;
  }

  /** Our signed statement that we trained `sha256` on the round's base. */
  statement(row: RoundRow, sha256: string, size: number): Buffer {
    return this.d.signer.sign(gradientDigest(row.round, row.baseSha256, sha256, size));
  }

  /** Sends our stored gradient of `row` to the round's current leader (push, then signal); false when there is none. */
  async submit(row: RoundRow): Promise<boolean> {
    const g = this.d.grads.get(row.round, this.d.nodeId);
    if (!g?.path || !existsSync(g.path)) return false;
    const msg: GradientReady = {
      round: row.round,
      nodeId: this.d.nodeId,
      baseSha256: row.baseSha256,
      sha256: g.sha256,
      manifestId: g.manifestId,
      size: g.size,
      lossBefore: g.lossBefore ?? NaN,
      lossAfter: g.lossAfter ?? NaN,
      tokens: this.d.jobs.tokensPerGradient,
      steps: this.d.opts.innerSteps,
      compression: this.d.opts.compression,
      statementSignature: this.statement(row, g.sha256, g.size),
    };
    const t0 = Date.now();
    await this.d.network.pushBlob(row.leader, g.path, g.sha256, row.round);
    const ack = await this.d.network.gradientReady(row.leader, msg);
    this.d.phases.record(row.round, 'transfer', (Date.now() - t0) / 1000);
    if (!ack.accepted) this.d.log.warn({ round: row.round, leader: row.leader, reason: ack.reason }, 'the leader refused our gradient');
    return true;
  }
}
