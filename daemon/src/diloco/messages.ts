/** Round messages as the coordinator sees them (the net part maps them to and from proto/magnet/v1). */

export interface RoundAnnouncement {
  round: number;
  leader: string;
  innerSteps: number;
  deadlineMs: number;
  baseSha256: string;
  baseManifest: string | null;
  eligible: string[];
  /** Leaders this one replaces in this round (informative: each follower decides failures on its own clock). */
  failedLeaders: string[];
}

export interface GradientReady {
  round: number;
  nodeId: string;
  baseSha256: string;
  sha256: string;
  manifestId: string | null;
  size: number;
  lossBefore: number;
  lossAfter: number;
  tokens: number;
  steps: number;
  compression: string;
  /** The sender's wallet signature over (round, base, sha256, size): lets every member check the proposal. */
  statementSignature: Buffer;
}

/** A member's signed word that it trained `sha256` (`size` bytes) on the round's base. */
export interface GradientStatement {
  nodeId: string;
  sha256: string;
  size: number;
  signature: Buffer;
}

/** The leader asks the next member in the order to spot-check its own gradient. */
export interface GradientCheckRequest {
  round: number;
  baseSha256: string;
  sha256: string;
  size: number;
  manifestId: string | null;
  statementSignature: Buffer;
}

/** A checker's signed verdict on the leader's own gradient (travels in the leader's proposal). */
export interface GradientCheck {
  round: number;
  baseSha256: string;
  sha256: string;
  /** Whose gradient (the leader). */
  subject: string;
  checker: string;
  accepted: boolean;
  reason: string;
  signature: Buffer;
}

/**
 * How the leader proposes the round ends: merged into `sha256` from exactly `contributions` (equal weights, in
 * nodeId order), or abandoned (`merged` false, `sha256` = the parent). Signed by the leader; members recompute it
 * and vote.
 */
export interface OutcomeProposal {
  round: number;
  leader: string;
  parentSha256: string;
  merged: boolean;
  sha256: string;
  manifestId: string | null;
  contributions: GradientStatement[];
  leaderCheck: GradientCheck | null;
  note: string;
  /**
   * Set when a new leader proposes again what an earlier leader of the round proposed (and this one voted for):
   * that leader, its signature and its check, so every member can verify the original.
   */
  basis: ProposalBasis | null;
  /**
   * The outer step took 2^-damping of the mean pseudo-gradient (0..MAX_DAMPING; 0 for an abandoned round). A leader
   * damps a step that would leave the model worse than the momentum alone, rather than stall the network on it.
   */
  damping: number;
  signature: Buffer;
}

/** The most a leader may damp an outer step: 1/8 of the mean pseudo-gradient. */
export const MAX_DAMPING = 3;

export interface ProposalBasis {
  leader: string;
  leaderCheck: GradientCheck | null;
  signature: Buffer;
}

/** A member's signature over a proposal's digest. */
export interface Vote {
  voter: string;
  signature: Buffer;
}

/** A proposal with the votes of a quorum of members: the only thing that moves `latest`. */
export interface Certificate {
  proposal: OutcomeProposal;
  votes: Vote[];
  /** The leader's signed contribution receipts, when it has any (they ride along; the votes do not cover them). */
  receipts?: SignedReceipt[];
}

/**
 * A contribution receipt a round leader signed for one contributor (the EIP-712 `Receipt` of the ledger and the
 * leader's signature). The chain part makes and checks them; the rounds only carry them to their contributors.
 */
export interface SignedReceipt {
  /** The contributor. */
  nodeId: string;
  /** The contributor's wallet address. */
  node: string;
  epoch: number;
  round: number;
  /** 0x + 64 hex. */
  checkpointHash: string;
  gradientHash: string;
  tokens: number;
  /** Parts per million. */
  score: number;
  /** The leader's wallet address. */
  leader: string;
  /** 0x + 130 hex. */
  leaderSignature: string;
  /** The receipt's leaf in the root the leader sealed for the round (hashes as 0x + 64 hex). */
  leaf?: { index: number; root: string; proof: string[] };
}

export interface Ack {
  accepted: boolean;
  reason: string;
  /** The answering node's latest checkpoint and current round: a caller that is behind learns it from here. */
  latest?: { round: number; sha256: string; manifestId: string | null };
  currentRound?: number;
}
