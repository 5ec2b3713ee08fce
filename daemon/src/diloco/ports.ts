import type {
  Ack,
  Certificate,
  GradientCheck,
  GradientCheckRequest,
  GradientReady,
  OutcomeProposal,
  RoundAnnouncement,
  SignedReceipt,
  Vote,
} from './messages.js';

/** What the coordinator needs from the network part; every call is a signed RPC to one peer. */
export interface RoundNetwork {
  /** Live peers (fresh heartbeat) with their declared roles and whether this node counts them as members. */
  livePeers(): { nodeId: string; roles: string[]; member: boolean }[];
  /** Every peer this node knows, live or stale: the rotation of leaders is over these, so it does not shift. */
  knownPeers(): { nodeId: string; roles: string[]; member: boolean }[];
  /** True when the peer missed heartbeats long enough to count as gone. */
  isStale(nodeId: string): boolean;
  announce(to: string, a: RoundAnnouncement): Promise<Ack>;
  gradientReady(to: string, g: GradientReady): Promise<Ack>;
  /** Asks `to` to spot-check our own gradient; resolves with its signed verdict (may take a trainer run). */
  checkGradient(to: string, req: GradientCheckRequest): Promise<GradientCheck>;
  submitVotes(to: string, p: OutcomeProposal, votes: Vote[]): Promise<Ack>;
  publishOutcome(to: string, c: Certificate): Promise<Ack>;
  /** The peer's latest checkpoint and current round (Ack.latest, Ack.currentRound), asked with ours. */
  latestOf(peer: string, round: number): Promise<Ack>;
  /** Certified outcomes of rounds after `afterRound`, oldest first. */
  lineageOf(peer: string, afterRound: number, limit: number): Promise<Certificate[]>;
  /** Pushes our gradient of `round` to the round's leader through the data plane (verified there by sha256). */
  pushBlob(to: string, file: string, sha256: string, round: number): Promise<void>;
  /** Fetches a blob by sha256 from the peer into `dest` (verified); refused beyond `maxBytes`. */
  fetchBlob(from: string, sha256: string, dest: string, maxBytes: number): Promise<void>;
}

/** Sharded, replicated storage (the storage part): returns a manifest id that any node can fetch from. */
export interface RoundStorage {
  put(file: string, meta?: { kind: string; round: number }): Promise<{ manifestId: string }>;
  get(manifestId: string, dest: string): Promise<void>;
  /** The file of a blob this node holds whole (e.g. pushed to it through the data plane), if any. */
  localPath?(sha256: string): string | undefined;
  /**
   * Which gradient pushes from peers this node takes (storage refuses every other one before a byte lands):
   * `gate` answers undefined for an expected push, else why not.
   */
  expectGradients?(gate: (p: { sender: string; round: number; sha256: string; size: number }) => string | undefined): void;
}

/** Who the members are, in this node's own view (membership part). */
export interface RoundMembers {
  isMember(nodeId: string, address?: string): boolean;
  /** The number of members: the denominator of the vote quorum. */
  size(): number;
}

/** This node's wallet, to sign its statements (gradients, checks, proposals, votes). */
export interface RoundSigner {
  nodeId: string;
  sign(digest: Buffer): Buffer;
}

/** The chain part's receipts: signed by a leader for its round, picked up by the contributors from the outcome. */
export interface ReceiptExchange {
  forRound(round: number): Promise<SignedReceipt[]>;
  accept(receipts: SignedReceipt[]): Promise<void>;
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
