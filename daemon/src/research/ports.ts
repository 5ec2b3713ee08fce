import type { SignedRecord } from './records.js';

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
}

/** The network's blob storage: trial checkpoints (re-scored by the research node) and knowledge-base findings. */
export interface ResearchStorage {
  put(file: string, kind: string): Promise<{ manifestId: string }>;
  get(manifestId: string, dest: string): Promise<void>;
}

/** Runs `python -m magnet_trainer <args>` and resolves with its result event's fields; rejects with its error. */
export type TrainerCall = (args: string[], signal?: AbortSignal) => Promise<Record<string, unknown>>;

/** This node's wallet, to sign research records. */
export interface ResearchSigner {
  nodeId: string;
  sign(digest: Buffer): Buffer;
}
