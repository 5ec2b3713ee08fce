import type { Ack, GradientReady, LeaderProposal, RoundAnnouncement, RoundOutcome } from './messages.js';

/** What the coordinator needs from the network part; every call is a signed RPC to one peer. */
export interface RoundNetwork {
  /** Live peers (fresh heartbeat) with their roles. */
  livePeers(): { nodeId: string; roles: string[] }[];
  /** True when the peer missed heartbeats long enough to count as gone. */
  isStale(nodeId: string): boolean;
  announce(to: string, a: RoundAnnouncement): Promise<Ack>;
  gradientReady(to: string, g: GradientReady): Promise<Ack>;
  proposeLeader(to: string, p: LeaderProposal): Promise<Ack>;
  publishOutcome(to: string, o: RoundOutcome): Promise<Ack>;
  /** The peer's latest checkpoint (Ack.latest), asked with the round this node is at. */
  latestOf(peer: string, round: number): Promise<Ack>;
  /** Pushes a whole file to the peer's data plane (verified there by sha256). */
  pushBlob(to: string, file: string, sha256: string): Promise<void>;
  /** Fetches a blob by sha256 from the peer into `dest` (verified). */
  fetchBlob(from: string, sha256: string, dest: string): Promise<void>;
}

/** Sharded, replicated storage (the storage part): returns a manifest id that any node can fetch from. */
export interface RoundStorage {
  put(file: string, meta?: { kind: string; round: number }): Promise<{ manifestId: string }>;
  get(manifestId: string, dest: string): Promise<void>;
  /** The file of a blob this node holds whole (e.g. pushed to it through the data plane), if any. */
  localPath?(sha256: string): string | undefined;
}

/** Where accepted gradients become contribution records (the claims part reads them). */
export interface ContributionSink {
  record(c: {
    round: number;
    nodeId: string;
    tokens: number;
    steps: number;
    lossDelta: number;
    verified: boolean;
    gradientSha256: string;
  }): void;
}
