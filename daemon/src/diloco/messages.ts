/** Round messages as the coordinator sees them (the net part maps them to and from proto/magnet/v1). */

export interface RoundAnnouncement {
  round: number;
  leader: string;
  innerSteps: number;
  deadlineMs: number;
  baseSha256: string;
  baseManifest: string | null;
  eligible: string[];
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
}

export interface LeaderProposal {
  round: number;
  oldLeader: string;
  newLeader: string;
  reason: string;
}

/** The leader's word that a round ended: merged into a new checkpoint, or abandoned. */
export interface RoundOutcome {
  round: number;
  leader: string;
  merged: boolean;
  sha256: string;
  manifestId: string | null;
  contributors: string[];
  /** The leader's signed contribution receipts (opaque JSON from the chain part), when it has any. */
  receipts?: string;
}

export interface Ack {
  accepted: boolean;
  reason: string;
  /** With a refusal from a node that is ahead: its latest checkpoint, so the caller can catch up. */
  latest?: { round: number; sha256: string; manifestId: string | null };
}
