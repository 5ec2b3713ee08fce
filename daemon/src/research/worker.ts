import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { errorMessage } from '../util/errors.js';
import { approxParams, checkConfig, checkResolved, resolveConfig, trialTokens } from './hparams.js';
import type { ResearchPeers, ResearchSigner, ResearchStorage, TrainerCall } from './ports.js';
import {
  jobDigestHex,
  openRecord,
  parseJob,
  RecordError,
  signRecord,
  type TrialFailure,
  type TrialJob,
  type TrialResult,
} from './records.js';
import type { ResearchRepo } from './research-repo.js';

export interface TrialWorkerDeps {
  self: { nodeId: string; roles: readonly string[] };
  acceptTrials: boolean;
  maxTrialSteps: number;
  maxTrialParams: number;
  maxTrialTokens: number;
  maxTrialSeconds: number;
  /** --data values a job may name: 'generated', 'stdlib' and the network's own data; never any other path. */
  allowedData: readonly string[];
  repo: ResearchRepo;
  peers: ResearchPeers;
  storage: ResearchStorage;
  trainer: TrainerCall;
  signer: ResearchSigner;
  dir: string;
  log: Logger;
  signal?: AbortSignal;
}

/** Held-out windows (eval + test) a trial may score: each is a forward pass over one context. */
const MAX_WINDOWS = 512;

/** What a trial produced, before it is signed as a TrialResult. */
export type TrialOutcome = Omit<TrialResult, 'v' | 'runId' | 'trialId' | 'worker' | 'job'>;

/**
 * The trainer side of autoresearch: runs one trial at a time for a research node that is a member, and reports its
 * signed result with the checkpoint stored in the network's storage, so the research node can score it again.
 */
export class TrialWorker {
  private running: string | undefined;
  /** This node's own trials (it leads the plan) in the trainer now. */
  private ownTrials = 0;

  constructor(private readonly d: TrialWorkerDeps) {}

  busy(): boolean {
    return this.running !== undefined || this.ownTrials > 0;
  }

  /**
   * A member's offer (the net guard already refused strangers). Refusals name why: not_trainer, busy, bad_field,
   * bad_config, too_many_steps, data_not_allowed, bad_signature, wrong_author.
   */
  offer(from: string, rec: { kind: string; body: Uint8Array; signature: Uint8Array }): { accepted: boolean; reason: string } {
    let job: TrialJob;
    try {
      job = parseJob(openRecord(rec, 'trial-job', 'researcher', from));
    } catch (err) {
      return { accepted: false, reason: err instanceof RecordError ? `${err.reason}: ${err.message}` : errorMessage(err) };
    }
    const refuse = this.refusal(job);
    if (refuse) {
      this.d.log.info({ from, trial: job.trialId, reason: refuse }, 'trial offer refused');
      return { accepted: false, reason: refuse };
    }
    const digest = jobDigestHex(rec);
    this.d.repo.served(digest, {
      runId: job.runId,
      trialId: job.trialId,
      researcher: from,
      state: 'running',
      ...(job.creditRound === undefined ? {} : { creditRound: job.creditRound }),
    });
    this.running = digest;
    void this.runAndReport(job, digest)
      .catch((err) => this.d.log.error({ trial: job.trialId, err: errorMessage(err) }, 'trial bookkeeping failed'))
      .finally(() => {
        if (this.running === digest) this.running = undefined;
      });
    return { accepted: true, reason: '' };
  }

  /** Why a job is refused: what is wrong with it first (whoever asks), then whether this node can run it now. */
  private refusal(job: TrialJob): string | undefined {
    if (job.steps > this.d.maxTrialSteps) return `too_many_steps: ${job.steps} steps (this node runs at most ${this.d.maxTrialSteps})`;
    if (!this.d.allowedData.includes(job.data))
      return `data_not_allowed: --data ${JSON.stringify(job.data.slice(0, 80))} is neither generated, stdlib nor this network's data`;
    let config;
    try {
      config = checkResolved(resolveConfig(checkConfig(job.config, 'trial job config')), 'trial job config');
    } catch (err) {
      return `bad_config: ${errorMessage(err)}`;
    }
    const tokens = trialTokens(config, job.steps);
    if (tokens > this.d.maxTrialTokens)
      return `too_many_tokens: ${tokens.toExponential(2)} tokens (steps x batch x grad_accum x context; this node trains at most ${this.d.maxTrialTokens.toExponential(2)})`;
    if (job.evalWindows + job.testWindows > MAX_WINDOWS)
      return `too_many_windows: ${job.evalWindows} + ${job.testWindows} held-out windows (at most ${MAX_WINDOWS})`;
    const params = approxParams(config);
    if (params > this.d.maxTrialParams)
      return `too_large: the model has about ${params.toExponential(2)} parameters (this node trains at most ${this.d.maxTrialParams.toExponential(2)})`;
    if (!this.d.self.roles.includes('trainer') || !this.d.acceptTrials) return 'not_trainer: this node does not run trials';
    if (this.running) return 'busy: this node is running another trial';
    return undefined;
  }

  private async runAndReport(job: TrialJob, digest: string): Promise<void> {
    let outcome: TrialOutcome;
    try {
      const cut = AbortSignal.timeout(this.d.maxTrialSeconds * 1000);
      outcome = await this.run(job, this.d.signal ? AbortSignal.any([cut, this.d.signal]) : cut);
    } catch (err) {
      this.d.repo.served(digest, {
        runId: job.runId,
        trialId: job.trialId,
        researcher: job.researcher,
        state: 'failed',
        note: errorMessage(err),
      });
      this.d.log.warn({ trial: job.trialId, err: errorMessage(err) }, 'trial failed');
      // Said at once, so the research node reassigns it now rather than at its deadline. Not when this node is
      // shutting down: its research node sees it go stale and reassigns it anyway.
      if (!this.d.signal?.aborted) {
        const failure: TrialFailure = {
          v: 1,
          runId: job.runId,
          trialId: job.trialId,
          worker: this.d.signer.nodeId,
          job: digest,
          error: errorMessage(err).slice(0, 500),
        };
        await this.d.peers
          .reportTrial(
            job.researcher,
            signRecord('trial-failed', failure, (dg) => this.d.signer.sign(dg)),
          )
          .catch((e: unknown) => this.d.log.info({ trial: job.trialId, err: errorMessage(e) }, 'trial failure not reported'));
      }
      return;
    }
    const result: TrialResult = { v: 1, runId: job.runId, trialId: job.trialId, worker: this.d.signer.nodeId, job: digest, ...outcome };
    const rec = signRecord('trial-result', result, (dg) => this.d.signer.sign(dg));
    let last = '';
    for (let attempt = 0; attempt < 4 && !this.d.signal?.aborted; attempt++) {
      try {
        const ack = await this.d.peers.reportTrial(job.researcher, rec);
        const state = ack.accepted ? 'reported' : 'refused';
        this.d.repo.served(digest, {
          runId: job.runId,
          trialId: job.trialId,
          researcher: job.researcher,
          state,
          tokens: outcome.tokens,
          seconds: outcome.seconds,
          checkpointSha256: outcome.checkpointSha256,
          ...(ack.reason ? { note: ack.reason } : {}),
        });
        return;
      } catch (err) {
        last = errorMessage(err);
        await new Promise((r) => setTimeout(r, 2000 * (attempt + 1)));
      }
    }
    this.d.repo.served(digest, { runId: job.runId, trialId: job.trialId, researcher: job.researcher, state: 'unreported', note: last });
  }

  /** The research node's own trial: the same run, and the node counts as busy for offers meanwhile. */
  async execute(job: TrialJob, signal?: AbortSignal): Promise<TrialOutcome> {
    this.ownTrials++;
    try {
      return await this.run(job, signal ?? this.d.signal);
    } finally {
      this.ownTrials--;
    }
  }

  /** Trains and scores one trial and stores its checkpoint in the network's storage. */
  private async run(job: TrialJob, signal: AbortSignal | undefined): Promise<TrialOutcome> {
    await mkdir(this.d.dir, { recursive: true });
    const out = join(this.d.dir, `${job.runId}-${job.trialId}.ckpt`);
    try {
      const r = await this.d.trainer(
        [
          'trial',
          '--config',
          JSON.stringify(job.config),
          '--data',
          job.data,
          '--steps',
          String(job.steps),
          '--seed',
          String(job.seed),
          '--eval-windows',
          String(job.evalWindows),
          '--test-windows',
          String(job.testWindows),
          '--out',
          out,
        ],
        signal,
      );
      let manifestId = '';
      try {
        manifestId = (await this.d.storage.put(out, 'research')).manifestId;
      } catch (err) {
        this.d.log.warn(
          { trial: job.trialId, err: errorMessage(err) },
          'trial checkpoint could not be stored; the result cannot be re-scored',
        );
      }
      return {
        checkpointSha256: String(r['checkpoint_sha256']),
        manifestId,
        evalLoss: Number(r['eval_loss']),
        testLoss: Number(r['test_loss']),
        curve: (r['curve'] as [number, number][]) ?? [],
        tokens: Number(r['tokens']),
        seconds: Number(r['seconds']),
        params: Number(r['params']),
      };
    } finally {
      await rm(out, { force: true });
    }
  }
}
