import type { LeaderReceipt, SubmissionBook } from '../../chain/leader-receipts.js';
import type { StateDb } from '../../db/database.js';
import type { SignedReceipt } from '../../diloco/messages.js';
import type { ReceiptExchange } from '../../diloco/ports.js';
import { GradientRepository, RoundRepository } from '../../diloco/round-repo.js';
import type { ChainPart } from '../../chain/chain-part.js';
import type { CreditBook } from '../../research/ports.js';
import { TRIAL_CREDIT_BASE } from '../../research/records.js';
import { ResearchRepo } from '../../research/research-repo.js';
import { MagnetError } from '../../util/errors.js';

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
 * The chain part as research's credit book: a trial run for another node is a contribution its research node signs
 * a receipt for, and the worker queues that receipt like one from a round outcome (the submission check included).
 */
export function creditBook(chain: ChainPart): CreditBook {
  return {
    record: (c) => chain.contributions.record(c),
    receipts: async (rounds) => (await chain.receiptsOfRounds(rounds)).map(toSigned),
    accept: async (list) => {
      if (!chain.configured)
        throw new MagnetError(
          'ERR_CHAIN_NOT_CONFIGURED',
          'no chain configured on this node (set MAGNET_CHAIN_RPC and MAGNET_CHAIN_DEPLOYMENT): nothing to claim on',
        );
      if (!chain.connected)
        throw new MagnetError('ERR_CHAIN_UNAVAILABLE', "this node's chain link is down now: send the receipts again later");
      return chain.acceptLeaderReceipts(list.map(fromSigned));
    },
  };
}

/**
 * This node's submissions as the rounds recorded them (the same SQLite database): for a round, the hash of its own
 * gradient and the leaders of that round it may have sent it to (the current one and those that failed before it).
 */
export function submissionBook(db: StateDb, me: string): SubmissionBook {
  const rounds = new RoundRepository(db);
  const grads = new GradientRepository(db);
  const served = new ResearchRepo(db);
  return {
    submitted(round, leader) {
      // A research trial this node ran for another: its receipt names the checkpoint, its leader the research node.
      if (round >= TRIAL_CREDIT_BASE) {
        const s = leader ? served.servedByCredit(round, leader) : undefined;
        return s?.checkpointSha256 ? { gradientSha256: s.checkpointSha256, leaders: [s.researcher] } : undefined;
      }
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
