import type { StateDb } from '../db/database.js';
import type { Migration } from '../db/migrations.js';

export const dilocoMigrations: Migration[] = [
  {
    part: 'diloco',
    version: 1,
    name: 'rounds, gradients, checkpoints',
    up: `
      CREATE TABLE checkpoints (
        sha256 TEXT PRIMARY KEY,
        round INTEGER NOT NULL,
        path TEXT NOT NULL,
        manifest_id TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE rounds (
        round INTEGER PRIMARY KEY,
        leader TEXT NOT NULL,
        state TEXT NOT NULL,
        base_sha256 TEXT NOT NULL,
        base_manifest TEXT,
        inner_steps INTEGER NOT NULL,
        deadline_ms INTEGER NOT NULL,
        eligible_json TEXT NOT NULL,
        needed_json TEXT NOT NULL DEFAULT '[]',
        failed_leaders_json TEXT NOT NULL DEFAULT '[]',
        merged_sha256 TEXT,
        merged_manifest TEXT,
        note TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE round_gradients (
        round INTEGER NOT NULL,
        node_id TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        manifest_id TEXT,
        size INTEGER NOT NULL,
        loss_before REAL,
        loss_after REAL,
        tokens INTEGER NOT NULL,
        steps INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('received', 'accepted', 'refused')),
        reason TEXT,
        path TEXT,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (round, node_id)
      );`,
  },
  {
    part: 'diloco',
    version: 2,
    name: 'round trust: statements, verdicts, certified outcomes, the latest pointer',
    up: `
      ALTER TABLE rounds ADD COLUMN accepted_at INTEGER;
      ALTER TABLE round_gradients ADD COLUMN statement_sig BLOB;
      ALTER TABLE round_gradients ADD COLUMN loss_delta REAL;
      ALTER TABLE round_gradients ADD COLUMN spot_checked INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE round_gradients ADD COLUMN grad_norm REAL;
      ALTER TABLE round_gradients ADD COLUMN check_json TEXT;
      CREATE TABLE round_proposals (
        digest TEXT PRIMARY KEY,
        round INTEGER NOT NULL,
        leader TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        body TEXT NOT NULL,
        received_at INTEGER NOT NULL
      );
      CREATE INDEX round_proposals_by_round ON round_proposals (round, leader);
      CREATE TABLE round_votes (
        digest TEXT NOT NULL,
        voter TEXT NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (digest, voter)
      );
      CREATE TABLE round_my_votes (
        round INTEGER NOT NULL,
        leader TEXT NOT NULL,
        digest TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        voted_at INTEGER NOT NULL,
        PRIMARY KEY (round, leader)
      );
      CREATE TABLE round_certificates (
        round INTEGER PRIMARY KEY,
        digest TEXT NOT NULL,
        merged INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        parent_sha256 TEXT NOT NULL,
        body TEXT NOT NULL,
        certified_at INTEGER NOT NULL
      );
      CREATE TABLE round_failed_leaders (
        round INTEGER NOT NULL,
        leader TEXT NOT NULL,
        reason TEXT NOT NULL,
        failed_at INTEGER NOT NULL,
        PRIMARY KEY (round, leader)
      );
      CREATE TABLE round_equivocations (
        leader TEXT NOT NULL,
        round INTEGER NOT NULL,
        digest_a TEXT NOT NULL,
        digest_b TEXT NOT NULL,
        found_at INTEGER NOT NULL,
        PRIMARY KEY (leader, round)
      );
      CREATE TABLE diloco_latest (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        sha256 TEXT NOT NULL,
        round INTEGER NOT NULL,
        manifest_id TEXT,
        updated_at INTEGER NOT NULL
      );`,
  },
  {
    part: 'diloco',
    version: 3,
    // Version 1 created it; nothing ever read or wrote it (checkpoints live in HOME/checkpoints by hash, the
    // latest certified one in diloco_latest).
    name: 'drop the unused checkpoints table',
    up: 'DROP TABLE IF EXISTS checkpoints',
  },
];

/**
 * A round as this node sees it. Leader states: collecting -> merging -> proposed; follower states: training ->
 * submitted. Every round ends certified: merged or abandoned (a quorum of members voted for the outcome).
 */
export type RoundState = 'collecting' | 'merging' | 'proposed' | 'training' | 'submitted' | 'merged' | 'abandoned';

export interface RoundRow {
  round: number;
  /** The leader this node works with in this round (its own choice: the expected one in its view). */
  leader: string;
  state: RoundState;
  baseSha256: string;
  baseManifest: string | null;
  innerSteps: number;
  /** This node's own deadline: the announced one, capped at roundTimeoutSec after it accepted the announcement. */
  deadlineMs: number;
  eligible: string[];
  needed: string[];
  failedLeaders: string[];
  mergedSha256: string | null;
  mergedManifest: string | null;
  note: string | null;
  /** When this node accepted the announcement (its own clock). */
  acceptedAt: number | null;
}

interface RawRound {
  round: number;
  leader: string;
  state: RoundState;
  base_sha256: string;
  base_manifest: string | null;
  inner_steps: number;
  deadline_ms: number;
  eligible_json: string;
  needed_json: string;
  failed_leaders_json: string;
  merged_sha256: string | null;
  merged_manifest: string | null;
  note: string | null;
  accepted_at: number | null;
}

const fromRaw = (r: RawRound): RoundRow => ({
  round: r.round,
  leader: r.leader,
  state: r.state,
  baseSha256: r.base_sha256,
  baseManifest: r.base_manifest,
  innerSteps: r.inner_steps,
  deadlineMs: r.deadline_ms,
  eligible: JSON.parse(r.eligible_json) as string[],
  needed: JSON.parse(r.needed_json) as string[],
  failedLeaders: JSON.parse(r.failed_leaders_json) as string[],
  mergedSha256: r.merged_sha256,
  mergedManifest: r.merged_manifest,
  note: r.note,
  acceptedAt: r.accepted_at,
});

/** The rounds this node took part in, as it saw them. A restart resumes from here. */
export class RoundRepository {
  constructor(private readonly db: StateDb) {}

  get(round: number): RoundRow | undefined {
    const r = this.db.prepare('SELECT * FROM rounds WHERE round = ?').get(round) as RawRound | undefined;
    return r && fromRaw(r);
  }

  /** Inserts or replaces the whole row (a new leader re-creates the round under the same number). */
  put(row: RoundRow): void {
    const now = Date.now();
    this.db
      .prepare(
        `INSERT INTO rounds (round, leader, state, base_sha256, base_manifest, inner_steps, deadline_ms, eligible_json, needed_json,
           failed_leaders_json, merged_sha256, merged_manifest, note, accepted_at, created_at, updated_at)
         VALUES (@round, @leader, @state, @baseSha256, @baseManifest, @innerSteps, @deadlineMs, @eligible, @needed, @failedLeaders,
           @mergedSha256, @mergedManifest, @note, @acceptedAt, @now, @now)
         ON CONFLICT(round) DO UPDATE SET leader = excluded.leader, state = excluded.state, base_sha256 = excluded.base_sha256,
           base_manifest = excluded.base_manifest, inner_steps = excluded.inner_steps, deadline_ms = excluded.deadline_ms,
           eligible_json = excluded.eligible_json, needed_json = excluded.needed_json, failed_leaders_json = excluded.failed_leaders_json,
           merged_sha256 = excluded.merged_sha256, merged_manifest = excluded.merged_manifest, note = excluded.note,
           accepted_at = excluded.accepted_at, updated_at = excluded.updated_at`,
      )
      .run({
        ...row,
        eligible: JSON.stringify(row.eligible),
        needed: JSON.stringify(row.needed),
        failedLeaders: JSON.stringify(row.failedLeaders),
        now,
      });
  }

  update(round: number, patch: Partial<Omit<RoundRow, 'round'>>): RoundRow {
    const cur = this.get(round);
    if (!cur) throw new Error(`round ${round} is not recorded`);
    const next = { ...cur, ...patch };
    this.put(next);
    return next;
  }
}

export interface GradientRow {
  round: number;
  nodeId: string;
  sha256: string;
  manifestId: string | null;
  size: number;
  lossBefore: number | null;
  lossAfter: number | null;
  tokens: number;
  steps: number;
  status: 'received' | 'accepted' | 'refused';
  reason: string | null;
  path: string | null;
  /** The contributor's signature over (round, base, sha256, size). */
  statementSig: Buffer | null;
}

/** The leader's verdict on a gradient, kept with it (a restarted leader records the same contributions). */
export interface GradientVerdict {
  status: 'accepted' | 'refused';
  reason: string | null;
  /** Held-out loss of the base minus that after the real outer step with this gradient alone. */
  lossDelta?: number;
  spotChecked?: boolean;
  norm?: number;
  /** The checker's signed verdict, for the leader's own gradient (JSON of a GradientCheck). */
  checkJson?: string;
}

export interface JudgedGradient extends GradientRow {
  lossDelta: number | null;
  spotChecked: boolean;
  norm: number | null;
  checkJson: string | null;
}

/** Gradients of each round (a leader's received ones, and this node's own), with the verdict on each. */
export class GradientRepository {
  constructor(private readonly db: StateDb) {}

  /** Records a gradient once per (round, node); a second copy of the same gradient is a no-op, another one is refused. */
  add(g: GradientRow): 'added' | 'duplicate' | 'conflict' {
    const cur = this.get(g.round, g.nodeId);
    if (cur) return cur.sha256 === g.sha256 ? 'duplicate' : 'conflict';
    this.db
      .prepare(
        `INSERT INTO round_gradients (round, node_id, sha256, manifest_id, size, loss_before, loss_after, tokens, steps, status, reason, path,
           statement_sig, received_at)
         VALUES (@round, @nodeId, @sha256, @manifestId, @size, @lossBefore, @lossAfter, @tokens, @steps, @status, @reason, @path,
           @statementSig, @now)`,
      )
      .run({ ...g, now: Date.now() });
    return 'added';
  }

  setVerdict(round: number, nodeId: string, v: GradientVerdict): void {
    this.db
      .prepare(
        `UPDATE round_gradients SET status = ?, reason = ?, loss_delta = ?, spot_checked = ?, grad_norm = ?, check_json = ?
         WHERE round = ? AND node_id = ?`,
      )
      .run(v.status, v.reason, v.lossDelta ?? null, v.spotChecked ? 1 : 0, v.norm ?? null, v.checkJson ?? null, round, nodeId);
  }

  /** Back to 'received' (a new leader of the round judges it again). */
  reset(round: number, nodeId: string): void {
    this.db
      .prepare(
        `UPDATE round_gradients SET status = 'received', reason = NULL, loss_delta = NULL, spot_checked = 0, grad_norm = NULL,
           check_json = NULL WHERE round = ? AND node_id = ?`,
      )
      .run(round, nodeId);
  }

  get(round: number, nodeId: string): JudgedGradient | undefined {
    const r = this.db.prepare('SELECT * FROM round_gradients WHERE round = ? AND node_id = ?').get(round, nodeId) as
      Record<string, unknown> | undefined;
    return r && rowToGradient(r);
  }

  /** A node's gradients of rounds before `round` that still have a file on disk. */
  withFilesBefore(round: number, nodeId: string): { round: number; path: string }[] {
    return this.db
      .prepare('SELECT round, path FROM round_gradients WHERE round < ? AND node_id = ? AND path IS NOT NULL ORDER BY round')
      .all(round, nodeId) as { round: number; path: string }[];
  }

  /** The gradient's file was deleted: the row (its verdict, its hash) stays. */
  forgetFile(round: number, nodeId: string): void {
    this.db.prepare('UPDATE round_gradients SET path = NULL WHERE round = ? AND node_id = ?').run(round, nodeId);
  }

  forRound(round: number): JudgedGradient[] {
    return (this.db.prepare('SELECT * FROM round_gradients WHERE round = ? ORDER BY node_id').all(round) as Record<string, unknown>[]).map(
      rowToGradient,
    );
  }
}

function rowToGradient(r: Record<string, unknown>): JudgedGradient {
  return {
    round: r['round'] as number,
    nodeId: r['node_id'] as string,
    sha256: r['sha256'] as string,
    manifestId: r['manifest_id'] as string | null,
    size: r['size'] as number,
    lossBefore: r['loss_before'] as number | null,
    lossAfter: r['loss_after'] as number | null,
    tokens: r['tokens'] as number,
    steps: r['steps'] as number,
    status: r['status'] as GradientRow['status'],
    reason: r['reason'] as string | null,
    path: r['path'] as string | null,
    statementSig: (r['statement_sig'] as Buffer | null) ?? null,
    lossDelta: r['loss_delta'] as number | null,
    spotChecked: r['spot_checked'] === 1,
    norm: r['grad_norm'] as number | null,
    checkJson: r['check_json'] as string | null,
  };
}
