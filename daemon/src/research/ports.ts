import type { ContributionSink } from '../diloco/ports.js';
import type { CreditReceipt, SignedRecord } from './records.js';

/** A peer's answer to a research message. */
export interface ResearchAck {
  accepted: boolean;
  reason: string;
}

/** What research needs of the net part: the live peers in this node's view and the two signed research calls. */
export interface ResearchPeers {
  livePeers(): { nodeId: string; roles: string[]; member: boolean }[];
  /** True when the peer missed heartbeats long enough to count as gone. */
  isStale(nodeId: string): boolean;
  offerTrial(to: string, rec: SignedRecord): Promise<ResearchAck>;
  reportTrial(to: string, rec: SignedRecord): Promise<ResearchAck>;
  /** Research node -> worker: the receipts it signed for trials the worker ran (a trial-credits record). */
  creditTrials(to: string, rec: SignedRecord): Promise<ResearchAck>;
}

/**
 * What research needs of the chain part to pay for trials: the research node records each trial another node ran
 * as a contribution, and the chain part signs its receipt as for a round it led; the worker queues the receipt as a
 * claim like one from a round outcome. Without a chain, nothing is signed, and credits wait.
 */
export interface CreditBook {
  /** Research node: a contribution record for a trial (as DiLoCo records a gradient; idempotent). */
  record: ContributionSink['record'];
  /** Research node: the receipts this node signed for these rounds, signing what is pending first ([] with no chain). */
  receipts(rounds: readonly number[]): Promise<CreditReceipt[]>;
  /** Worker: queues the claims; how many were queued. Throws ERR_CHAIN_NOT_CONFIGURED when there is no chain to claim on. */
  accept(list: readonly CreditReceipt[]): Promise<number>;
}

/** The network's blob storage: trial checkpoints (re-scored by the research node) and knowledge-base findings. */
export interface ResearchStorage {
  put(file: string, kind: string): Promise<{ manifestId: string }>;
  get(manifestId: string, dest: string): Promise<void>;
  /** What a stored blob's manifest says it is, read before any shard is fetched. */
  describe(manifestId: string): Promise<{ sha256: string; size: number }>;
}

/** Runs `python -m magnet_trainer <args>` and resolves with its result event's fields; rejects with its error. */
export type TrainerCall = (args: string[], signal?: AbortSignal) => Promise<Record<string, unknown>>;

/** This node's wallet, to sign research records. */
export interface ResearchSigner {
  nodeId: string;
  sign(digest: Buffer): Buffer;
}
