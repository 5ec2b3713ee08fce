import type { StateDb } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import type { Receipt } from './receipt.js';

export const chainMigrations: Migration[] = [
  {
    part: 'chain',
    version: 1,
    name: 'contributions (leader side), leader-signed receipts, claim queue',
    up: `
      CREATE TABLE chain_contributions (
        round INTEGER NOT NULL,
        node_id TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        steps INTEGER NOT NULL,
        loss_delta REAL NOT NULL,
        verified INTEGER NOT NULL,
        gradient_sha256 TEXT NOT NULL,
        recorded_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'recorded',
        note TEXT,
        PRIMARY KEY (round, node_id)
      );
      CREATE TABLE chain_leader_receipts (
        round INTEGER NOT NULL,
        node_id TEXT NOT NULL,
        receipt TEXT NOT NULL,
        leader_signature TEXT NOT NULL,
        signed_at INTEGER NOT NULL,
        PRIMARY KEY (round, node_id)
      );
      CREATE TABLE chain_claims (
        digest TEXT PRIMARY KEY,
        round INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        receipt TEXT NOT NULL,
        nonce TEXT NOT NULL,
        node_signature TEXT NOT NULL,
        leader_signature TEXT NOT NULL,
        state TEXT NOT NULL,
        reward TEXT,
        commit_tx TEXT,
        reveal_tx TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX chain_claims_state ON chain_claims(state, next_attempt_at);`,
  },
];

/**
 * What DiLoCo hands over for each accepted gradient. ContributionStore is DiLoCo's ContributionSink (diloco/ports.ts)
 * by shape: the node hands one to the other, and the compiler checks the fit there, so neither part imports the other.
 */
export interface Contribution {
  round: number;
  nodeId: string;
  tokens: number;
  steps: number;
  lossDelta: number;
  verified: boolean;
  gradientSha256: string;
}

export interface ContributionRow extends Contribution {
  recordedAt: number;
  /** 'invalid': no receipt can carry the record (the note says why); it is kept, never signed. */
  state: 'recorded' | 'signed' | 'self' | 'unregistered' | 'invalid';
  note: string | null;
}

/**
 * Leader side: every accepted gradient becomes a contribution record, in a transaction, once per (round, nodeId),
 * whether or not a chain is configured (signing waits for the chain).
 */
export class ContributionStore {
  constructor(private readonly db: StateDb) {}

  record(c: Contribution): void {
    // Values are checked here, where they enter: a receipt carries tokens as uint64 and the hash as bytes32.
    if (!Number.isSafeInteger(c.round) || c.round < 0 || !Number.isSafeInteger(c.tokens) || c.tokens < 0) {
      throw new Error(`contribution for ${c.nodeId} round ${c.round}: round and tokens must be whole numbers >= 0`);
    }
    if (!/^[0-9a-f]{64}$/.test(c.gradientSha256))
      throw new Error(`contribution for ${c.nodeId} round ${c.round}: gradient hash must be 64 lowercase hex digits`);
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT OR IGNORE INTO chain_contributions (round, node_id, tokens, steps, loss_delta, verified, gradient_sha256, recorded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          c.round,
          c.nodeId,
          c.tokens,
          c.steps,
          Number.isFinite(c.lossDelta) ? c.lossDelta : 0,
          c.verified ? 1 : 0,
          c.gradientSha256,
          Date.now(),
        );
    })();
  }

  all(): ContributionRow[] {
    return (this.db.prepare('SELECT * FROM chain_contributions ORDER BY round, node_id').all() as Record<string, unknown>[]).map(
      fromContribution,
    );
  }

  /** Contributions still waiting for a leader signature (recorded, or unregistered: retried as nodes register). */
  unsigned(): ContributionRow[] {
    return (
      this.db
        .prepare("SELECT * FROM chain_contributions WHERE state IN ('recorded', 'unregistered') ORDER BY round, node_id")
        .all() as Record<string, unknown>[]
    ).map(fromContribution);
  }

  mark(round: number, nodeId: string, state: ContributionRow['state'], note: string | null = null): void {
    this.db.prepare('UPDATE chain_contributions SET state = ?, note = ? WHERE round = ? AND node_id = ?').run(state, note, round, nodeId);
  }

  /** Stores the leader-signed receipt for the contributor and marks the contribution signed, atomically. */
  saveLeaderReceipt(round: number, nodeId: string, r: Receipt, signature: string): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT OR IGNORE INTO chain_leader_receipts (round, node_id, receipt, leader_signature, signed_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(round, nodeId, receiptToJson(r), signature, Date.now());
      this.mark(round, nodeId, 'signed');
    })();
  }

  /** Leader-signed receipts for one contributor (what the contributor needs to claim). */
  receiptsFor(nodeId: string): { round: number; receipt: Receipt; leaderSignature: string }[] {
    const rows = this.db
      .prepare('SELECT round, receipt, leader_signature FROM chain_leader_receipts WHERE node_id = ? ORDER BY round')
      .all(nodeId) as {
      round: number;
      receipt: string;
      leader_signature: string;
    }[];
    return rows.map((r) => ({ round: r.round, receipt: receiptFromJson(r.receipt), leaderSignature: r.leader_signature }));
  }

  /** The receipts this node signed for `round` and for the `earlier` rounds it led before it, oldest first. */
  receiptsOfLedRounds(round: number, earlier: number): { round: number; nodeId: string; receipt: Receipt; leaderSignature: string }[] {
    const rows = this.db
      .prepare(
        `SELECT round, node_id, receipt, leader_signature FROM chain_leader_receipts
         WHERE round = ? OR round IN (SELECT DISTINCT round FROM chain_leader_receipts WHERE round < ? ORDER BY round DESC LIMIT ?)
         ORDER BY round, node_id`,
      )
      .all(round, round, earlier) as { round: number; node_id: string; receipt: string; leader_signature: string }[];
    return rows.map((r) => ({
      round: r.round,
      nodeId: r.node_id,
      receipt: receiptFromJson(r.receipt),
      leaderSignature: r.leader_signature,
    }));
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM chain_contributions').get() as { n: number }).n;
  }
}

function fromContribution(r: Record<string, unknown>): ContributionRow {
  return {
    round: r.round as number,
    nodeId: r.node_id as string,
    tokens: r.tokens as number,
    steps: r.steps as number,
    lossDelta: r.loss_delta as number,
    verified: r.verified === 1,
    gradientSha256: r.gradient_sha256 as string,
    recordedAt: r.recorded_at as number,
    state: r.state as ContributionRow['state'],
    note: (r.note as string | null) ?? null,
  };
}

export type ClaimState = 'queued' | 'committed' | 'revealed' | 'paid' | 'voided' | 'expired' | 'failed';
export const OPEN_CLAIM_STATES: readonly ClaimState[] = ['queued', 'committed', 'revealed'];

export interface ClaimRow {
  digest: string;
  round: number;
  epoch: bigint;
  receipt: Receipt;
  nonce: string;
  nodeSignature: string;
  leaderSignature: string;
  state: ClaimState;
  reward: bigint | null;
  commitTx: string | null;
  revealTx: string | null;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

/** This node's own claims: one row per signed receipt (keyed by its EIP-712 digest, so a receipt queues once). */
export class ClaimQueue {
  constructor(private readonly db: StateDb) {}

  /** Queues a claim; false when that receipt is already queued. */
  add(c: { digest: string; round: number; receipt: Receipt; nonce: string; nodeSignature: string; leaderSignature: string }): boolean {
    const now = Date.now();
    return (
      this.db
        .prepare(
          `INSERT OR IGNORE INTO chain_claims (digest, round, epoch, receipt, nonce, node_signature, leader_signature, state, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)`,
        )
        .run(c.digest, c.round, Number(c.receipt.epoch), receiptToJson(c.receipt), c.nonce, c.nodeSignature, c.leaderSignature, now, now)
        .changes > 0
    );
  }

  get(digest: string): ClaimRow | undefined {
    const r = this.db.prepare('SELECT * FROM chain_claims WHERE digest = ?').get(digest) as Record<string, unknown> | undefined;
    return r ? fromClaim(r) : undefined;
  }

  all(): ClaimRow[] {
    return (this.db.prepare('SELECT * FROM chain_claims ORDER BY epoch, round').all() as Record<string, unknown>[]).map(fromClaim);
  }

  /** Open claims whose retry time has come. */
  due(now = Date.now()): ClaimRow[] {
    return (
      this.db
        .prepare(
          "SELECT * FROM chain_claims WHERE state IN ('queued', 'committed', 'revealed') AND next_attempt_at <= ? ORDER BY epoch, round",
        )
        .all(now) as Record<string, unknown>[]
    ).map(fromClaim);
  }

  /** Moves a claim to `state` (clearing the retry counters), with the fields that step produced. */
  advance(
    digest: string,
    state: ClaimState,
    fields: { commitTx?: string; revealTx?: string; reward?: bigint; lastError?: string } = {},
  ): void {
    this.db
      .prepare(
        `UPDATE chain_claims SET state = ?, commit_tx = COALESCE(?, commit_tx), reveal_tx = COALESCE(?, reveal_tx), reward = COALESCE(?, reward),
           last_error = ?, attempts = 0, next_attempt_at = 0, updated_at = ? WHERE digest = ?`,
      )
      .run(
        state,
        fields.commitTx ?? null,
        fields.revealTx ?? null,
        fields.reward?.toString() ?? null,
        fields.lastError ?? null,
        Date.now(),
        digest,
      );
  }

  /**
   * Moves a not-yet-committed claim to a later epoch (its slot there is free): the receipt stays, the commitment
   * is made afresh for the new epoch.
   */
  reslot(digest: string, epoch: bigint, why: string): void {
    this.db
      .prepare(
        `UPDATE chain_claims SET epoch = ?, state = 'queued', commit_tx = NULL, last_error = ?, attempts = 0, next_attempt_at = 0, updated_at = ?
           WHERE digest = ?`,
      )
      .run(Number(epoch), why.slice(0, 500), Date.now(), digest);
  }

  /** Records a failed attempt and when to try again (the claim stays in its state: nothing is lost). */
  retryLater(digest: string, error: string, delayMs: number): void {
    this.db
      .prepare('UPDATE chain_claims SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, updated_at = ? WHERE digest = ?')
      .run(error.slice(0, 500), Date.now() + delayMs, Date.now(), digest);
  }

  /** Records the transaction hash of a step before waiting for it, so a crash in between is recognisable. */
  noteTx(digest: string, kind: 'commit' | 'reveal', hash: string): void {
    this.db
      .prepare(`UPDATE chain_claims SET ${kind === 'commit' ? 'commit_tx' : 'reveal_tx'} = ?, updated_at = ? WHERE digest = ?`)
      .run(hash, Date.now(), digest);
  }

  counts(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM chain_claims GROUP BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}

function fromClaim(r: Record<string, unknown>): ClaimRow {
  return {
    digest: r.digest as string,
    round: r.round as number,
    epoch: BigInt(r.epoch as number),
    receipt: receiptFromJson(r.receipt as string),
    nonce: r.nonce as string,
    nodeSignature: r.node_signature as string,
    leaderSignature: r.leader_signature as string,
    state: r.state as ClaimState,
    reward: r.reward === null || r.reward === undefined ? null : BigInt(r.reward as string),
    commitTx: (r.commit_tx as string | null) ?? null,
    revealTx: (r.reveal_tx as string | null) ?? null,
    attempts: r.attempts as number,
    nextAttemptAt: r.next_attempt_at as number,
    lastError: (r.last_error as string | null) ?? null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

export function receiptToJson(r: Receipt): string {
  return JSON.stringify({
    ...r,
    epoch: r.epoch.toString(),
    round: r.round.toString(),
    tokens: r.tokens.toString(),
    score: r.score.toString(),
  });
}

export function receiptFromJson(s: string): Receipt {
  const o = JSON.parse(s) as Record<string, string>;
  return {
    node: o.node!,
    epoch: BigInt(o.epoch!),
    round: BigInt(o.round!),
    checkpointHash: o.checkpointHash!,
    gradientHash: o.gradientHash!,
    tokens: BigInt(o.tokens!),
    score: BigInt(o.score!),
    leader: o.leader!,
  };
}
