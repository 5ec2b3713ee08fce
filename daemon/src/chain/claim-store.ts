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
  {
    part: 'chain',
    version: 2,
    name: 'round roots: the roots a leader sealed, each receipt its leaf, each claim how it is claimed',
    up: `
      CREATE TABLE chain_led_roots (
        round INTEGER PRIMARY KEY,
        epoch INTEGER NOT NULL,
        root TEXT NOT NULL,
        contributors INTEGER NOT NULL,
        max_tokens TEXT NOT NULL,
        state TEXT NOT NULL,
        tx TEXT,
        last_error TEXT,
        updated_at INTEGER NOT NULL
      );
      ALTER TABLE chain_leader_receipts ADD COLUMN leaf TEXT;
      ALTER TABLE chain_claims ADD COLUMN leaf TEXT;
      ALTER TABLE chain_claims ADD COLUMN route TEXT NOT NULL DEFAULT 'receipt';`,
  },
];

/** A contributor's leaf in the root its round leader sealed: its index in the round and the proof to that root. */
export interface LeafProof {
  index: number;
  /** 0x + 64 hex. */
  root: string;
  proof: string[];
}

/** A root this node sealed as a round's leader: sealed, committed on chain, or given up ('missed', 'failed'). */
export interface LedRoot {
  round: number;
  epoch: bigint;
  root: string;
  contributors: number;
  maxTokens: bigint;
  state: 'sealed' | 'committed' | 'missed' | 'failed';
  tx: string | null;
  lastError: string | null;
}

export interface LedReceipt {
  round: number;
  nodeId: string;
  receipt: Receipt;
  leaderSignature: string;
  leaf: LeafProof | null;
}

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
  receiptsOfLedRounds(round: number, earlier: number): LedReceipt[] {
    const rows = this.db
      .prepare(
        `SELECT round, node_id, receipt, leader_signature, leaf FROM chain_leader_receipts
         WHERE round = ? OR round IN (SELECT DISTINCT round FROM chain_leader_receipts WHERE round < ? ORDER BY round DESC LIMIT ?)
         ORDER BY round, node_id`,
      )
      .all(round, round, earlier) as LedReceiptRow[];
    return rows.map(fromLedReceipt);
  }

  /** The receipts this node signed for one round it led. */
  receiptsOfRound(round: number): LedReceipt[] {
    const rows = this.db
      .prepare('SELECT round, node_id, receipt, leader_signature, leaf FROM chain_leader_receipts WHERE round = ? ORDER BY node_id')
      .all(round) as LedReceiptRow[];
    return rows.map(fromLedReceipt);
  }

  /** The root sealed for `round`, if any. */
  rootOf(round: number): LedRoot | undefined {
    const r = this.db.prepare('SELECT * FROM chain_led_roots WHERE round = ?').get(round) as Record<string, unknown> | undefined;
    return r ? fromLedRoot(r) : undefined;
  }

  /** Roots sealed and not yet committed or given up. */
  rootsToCommit(): LedRoot[] {
    return (this.db.prepare("SELECT * FROM chain_led_roots WHERE state = 'sealed' ORDER BY round").all() as Record<string, unknown>[]).map(
      fromLedRoot,
    );
  }

  /** Seals a round's root and writes each receipt's leaf with it, in one transaction; false if the round has one. */
  sealRoot(root: Omit<LedRoot, 'state' | 'tx' | 'lastError'>, leaves: { nodeId: string; leaf: LeafProof }[]): boolean {
    return this.db.transaction(() => {
      const inserted = this.db
        .prepare(
          `INSERT OR IGNORE INTO chain_led_roots (round, epoch, root, contributors, max_tokens, state, updated_at)
           VALUES (?, ?, ?, ?, ?, 'sealed', ?)`,
        )
        .run(root.round, Number(root.epoch), root.root, root.contributors, root.maxTokens.toString(), Date.now()).changes;
      if (inserted === 0) return false;
      const set = this.db.prepare('UPDATE chain_leader_receipts SET leaf = ? WHERE round = ? AND node_id = ?');
      for (const l of leaves) set.run(JSON.stringify(l.leaf), root.round, l.nodeId);
      return true;
    })();
  }

  markRoot(round: number, state: LedRoot['state'], fields: { tx?: string; lastError?: string } = {}): void {
    this.db
      .prepare('UPDATE chain_led_roots SET state = ?, tx = COALESCE(?, tx), last_error = ?, updated_at = ? WHERE round = ?')
      .run(state, fields.tx ?? null, fields.lastError?.slice(0, 500) ?? null, Date.now(), round);
  }

  /** Records the commit transaction before waiting for it, so a restart recognises it. */
  noteRootTx(round: number, tx: string): void {
    this.db.prepare('UPDATE chain_led_roots SET tx = ?, updated_at = ? WHERE round = ?').run(tx, Date.now(), round);
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM chain_contributions').get() as { n: number }).n;
  }
}

interface LedReceiptRow {
  round: number;
  node_id: string;
  receipt: string;
  leader_signature: string;
  leaf: string | null;
}

function fromLedReceipt(r: LedReceiptRow): LedReceipt {
  return {
    round: r.round,
    nodeId: r.node_id,
    receipt: receiptFromJson(r.receipt),
    leaderSignature: r.leader_signature,
    leaf: r.leaf ? (JSON.parse(r.leaf) as LeafProof) : null,
  };
}

function fromLedRoot(r: Record<string, unknown>): LedRoot {
  return {
    round: r.round as number,
    epoch: BigInt(r.epoch as number),
    root: r.root as string,
    contributors: r.contributors as number,
    maxTokens: BigInt(r.max_tokens as string),
    state: r.state as LedRoot['state'],
    tx: (r.tx as string | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
  };
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
  /** The receipt's leaf in its leader's round root, when the leader sealed one; dropped when that root cannot pay. */
  leaf: LeafProof | null;
  /** 'root': claimed from the leader's root (claimRound); 'receipt': committed and revealed. */
  route: 'receipt' | 'root';
}

/** This node's own claims: one row per signed receipt (keyed by its EIP-712 digest, so a receipt queues once). */
export class ClaimQueue {
  constructor(private readonly db: StateDb) {}

  /** Queues a claim; false when that receipt is already queued. */
  add(c: {
    digest: string;
    round: number;
    receipt: Receipt;
    nonce: string;
    nodeSignature: string;
    leaderSignature: string;
    leaf?: LeafProof | null;
  }): boolean {
    const now = Date.now();
    return (
      this.db
        .prepare(
          `INSERT OR IGNORE INTO chain_claims (digest, round, epoch, receipt, nonce, node_signature, leader_signature, state, created_at, updated_at, leaf)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
        )
        .run(
          c.digest,
          c.round,
          Number(c.receipt.epoch),
          receiptToJson(c.receipt),
          c.nonce,
          c.nodeSignature,
          c.leaderSignature,
          now,
          now,
          c.leaf ? JSON.stringify(c.leaf) : null,
        ).changes > 0
    );
  }

  /** The claim was made from its leader's root: it is revealed, and settles with the epoch like any other. */
  claimedByRoot(digest: string, tx: string): void {
    this.db
      .prepare(
        "UPDATE chain_claims SET route = 'root', state = 'revealed', reveal_tx = ?, last_error = NULL, attempts = 0, next_attempt_at = 0, updated_at = ? WHERE digest = ?",
      )
      .run(tx, Date.now(), digest);
  }

  /** The leader's root cannot pay this claim: it goes on as a receipt (commit and reveal). */
  dropLeaf(digest: string, why: string): void {
    this.db
      .prepare('UPDATE chain_claims SET leaf = NULL, last_error = ?, updated_at = ? WHERE digest = ?')
      .run(why.slice(0, 500), Date.now(), digest);
  }

  /** What the other paid claims of `epoch` already record: the ledger credits one amount per node and epoch. */
  rewardRecordedInEpoch(epoch: bigint, except: string): bigint {
    const rows = this.db
      .prepare("SELECT reward FROM chain_claims WHERE epoch = ? AND digest != ? AND state = 'paid' AND reward IS NOT NULL")
      .all(Number(epoch), except) as { reward: string }[];
    return rows.reduce((a, r) => a + BigInt(r.reward), 0n);
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
    leaf: r.leaf ? (JSON.parse(r.leaf as string) as LeafProof) : null,
    route: (r.route as ClaimRow['route'] | undefined) ?? 'receipt',
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
