import type { LeaderReceipt, SubmissionBook } from '../../chain/leader-receipts.js';
import type { StateDb } from '../../db/database.js';
import type { SignedReceipt } from '../../diloco/messages.js';
import type { ReceiptExchange } from '../../diloco/ports.js';
import { GradientRepository, RoundRepository } from '../../diloco/round-repo.js';

/** What the rounds use of the chain part's receipts. */
export interface ReceiptBook {
  leaderReceipts(round: number): Promise<LeaderReceipt[]>;
  acceptLeaderReceipts(list: readonly LeaderReceipt[]): Promise<number>;
}

/**
 * The chain part's leader-signed receipts as the rounds carry them: field by field, once, into the typed receipt
 * of the round outcome (control.proto ContributionReceipt), and back at the contributor.
 */
export function receiptExchange(chain: ReceiptBook): ReceiptExchange {
  return {
    forRound: async (round) => (await chain.leaderReceipts(round)).map(toSigned),
    accept: async (list) => void (await chain.acceptLeaderReceipts(list.map(fromSigned))),
  };
}

/**
 * This node's submissions as the rounds recorded them (the same SQLite database): for a round, the hash of its own
 * gradient and the leaders of that round it may have sent it to (the current one and those that failed before it).
 */
export function submissionBook(db: StateDb, me: string): SubmissionBook {
  const rounds = new RoundRepository(db);
  const grads = new GradientRepository(db);
  return {
    submitted(round) {
      const row = rounds.get(round);
      const own = grads.get(round, me);
      if (!row || !own || own.status === 'refused') return undefined;
      return { gradientSha256: own.sha256, leaders: [row.leader, ...row.failedLeaders] };
    },
  };
}

export function toSigned(r: LeaderReceipt): SignedReceipt {
  const x = r.receipt;
  return {
    nodeId: r.nodeId,
    node: x.node,
    epoch: Number(x.epoch),
    round: Number(x.round),
    checkpointHash: x.checkpointHash,
    gradientHash: x.gradientHash,
    tokens: Number(x.tokens),
    score: Number(x.score),
    leader: x.leader,
    leaderSignature: r.leaderSignature,
    ...(r.leaf ? { leaf: r.leaf } : {}),
  };
}

export function fromSigned(r: SignedReceipt): LeaderReceipt {
  return {
    nodeId: r.nodeId,
    round: r.round,
    receipt: {
      node: r.node,
      epoch: BigInt(r.epoch),
      round: BigInt(r.round),
      checkpointHash: r.checkpointHash,
      gradientHash: r.gradientHash,
      tokens: BigInt(r.tokens),
      score: BigInt(r.score),
      leader: r.leader,
    },
    leaderSignature: r.leaderSignature,
    ...(r.leaf ? { leaf: r.leaf } : {}),
  };
}
