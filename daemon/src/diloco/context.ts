import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { LossHistory } from './loss-history.js';
import type { CheckpointStore } from './checkpoint-store.js';
import type { DilocoMetrics } from './metrics.js';
import type { OutcomeRepository } from './outcome-repo.js';
import type { PhaseClock } from './phase-clock.js';
import type { ContributionSink, ReceiptExchange, RoundNetwork, RoundSigner, RoundStorage } from './ports.js';
import type { Refuser } from './refusals.js';
import type { GradientRepository, RoundRepository } from './round-repo.js';
import type { RoundView } from './round-view.js';
import type { DilocoOptions, TrainerJobs } from './trainer-jobs.js';

/** What every part of a round (leader, follower, voting, catch-up, failover) works with: one node's state and ports. */
export interface RoundContext {
  opts: DilocoOptions;
  me: string;
  view: RoundView;
  rounds: RoundRepository;
  grads: GradientRepository;
  outcomes: OutcomeRepository;
  ckpts: CheckpointStore;
  /** This node's own gradient files, named by hash. */
  gradDir: string;
  network: RoundNetwork;
  storage: RoundStorage;
  contributions: ContributionSink;
  jobs: TrainerJobs;
  signer: RoundSigner;
  refuser: Refuser;
  phases: PhaseClock;
  /** Held-out loss of each merge this node judged (leader or voter). */
  losses: LossHistory;
  metrics: DilocoMetrics;
  log: Logger;
  /** The node's shutdown signal: once aborted, no new work starts and a job in flight is cut (and left to redo). */
  signal: AbortSignal;
  /** The chain part's receipts: signed by a leader for its round, picked up by the contributors from the outcome. */
  receipts?: ReceiptExchange;
  /** Called after a merged checkpoint became `latest` (the serving hook). */
  onLatest?: (path: string, sha256: string, round: number) => void;
}

/** The round this node works on: the one after the last certified round, or after the latest checkpoint's. */
export function currentRound(ctx: RoundContext): number {
  return ctx.outcomes.currentRound();
}

/** A gradient file this node holds: its own, or one pushed to it through the data plane. */
export function gradientFile(ctx: RoundContext, sha256: string): string | undefined {
  const own = join(ctx.gradDir, `${sha256}.safetensors`);
  if (existsSync(own)) return own;
  return ctx.storage.localPath?.(sha256);
}

/** Most bytes a pseudo-gradient of this model may have: one fp32 value per parameter, like the checkpoint (x2). */
export function maxGradientBytes(ctx: RoundContext, baseSha256: string): number {
  const base = ctx.ckpts.path(baseSha256);
  return existsSync(base) ? statSync(base).size * 2 : Number.MAX_SAFE_INTEGER;
}
