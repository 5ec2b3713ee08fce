import type { StateDb } from '../db/database.js';
import type { Migration } from '../db/migrations.js';

export const researchMigrations: Migration[] = [
  {
    part: 'research',
    version: 1,
    name: 'research runs, their trials, refused workers, findings, and the trials this node ran for others',
    up: `
      CREATE TABLE research_runs (
        run_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        plan TEXT NOT NULL,
        plan_hash TEXT NOT NULL,
        phases TEXT NOT NULL,
        state TEXT NOT NULL,
        phase_index INTEGER NOT NULL DEFAULT 0,
        best_config TEXT NOT NULL,
        best_eval REAL,
        history TEXT NOT NULL DEFAULT '[]',
        proposals INTEGER NOT NULL DEFAULT 0,
        secret TEXT NOT NULL,
        stop_reason TEXT,
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE research_trials (
        run_id TEXT NOT NULL,
        trial_id TEXT NOT NULL,
        phase_index INTEGER NOT NULL,
        config TEXT NOT NULL,
        config_key TEXT NOT NULL,
        seed INTEGER NOT NULL,
        steps INTEGER NOT NULL,
        state TEXT NOT NULL,
        assignee TEXT,
        assigned_at INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        job_digest TEXT,
        result TEXT,
        result_signature TEXT,
        eval_loss REAL,
        test_loss REAL,
        checkpoint_sha256 TEXT,
        manifest_id TEXT,
        verified INTEGER,
        seconds REAL,
        tokens INTEGER,
        note TEXT,
        PRIMARY KEY (run_id, trial_id)
      );
      CREATE INDEX research_trials_state ON research_trials(run_id, state);
      CREATE TABLE research_refused_workers (
        run_id TEXT NOT NULL,
        node_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (run_id, node_id)
      );
      CREATE TABLE research_findings (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        signature TEXT NOT NULL,
        manifest_id TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, seq)
      );
      CREATE TABLE research_served (
        job_digest TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        trial_id TEXT NOT NULL,
        researcher TEXT NOT NULL,
        state TEXT NOT NULL,
        tokens INTEGER,
        seconds REAL,
        note TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );`,
  },
  {
    part: 'research',
    version: 2,
    name: 'the jobs a trial was offered under before it was reassigned (a late result still counts)',
    up: `ALTER TABLE research_trials ADD COLUMN prior_jobs TEXT NOT NULL DEFAULT '[]';`,
  },
  {
    part: 'research',
    version: 3,
    name: 'trial credits: the ledger round of each trial run for another node, and what became of its receipt',
    up: `
      ALTER TABLE research_trials ADD COLUMN credit_round INTEGER;
      ALTER TABLE research_trials ADD COLUMN credit_state TEXT;
      ALTER TABLE research_trials ADD COLUMN credit_note TEXT;
      CREATE UNIQUE INDEX research_trials_credit_round ON research_trials(credit_round);
      CREATE INDEX research_trials_credit_state ON research_trials(credit_state);
      ALTER TABLE research_served ADD COLUMN credit_round INTEGER;
      ALTER TABLE research_served ADD COLUMN checkpoint_sha256 TEXT;
      CREATE INDEX research_served_credit_round ON research_served(credit_round);`,
  },
];

/**
 * What became of a trial's credit (research node side). null: not settled yet (the run goes on, or no worker of
 * another node ran it). 'recorded': a contribution the chain part signs a receipt for; 'delivered': the receipt
 * reached its worker; 'refused': the worker refused it (the note says why); 'none': nothing to credit (run by this
 * node, or its worker was refused in the run: a lie forfeits every trial of the run).
 */
export type CreditState = 'recorded' | 'delivered' | 'refused' | 'none';

export type RunState = 'running' | 'done' | 'stopped';
export type TrialState = 'queued' | 'assigned' | 'reported' | 'done' | 'failed';

export interface RunRow {
  runId: string;
  name: string;
  plan: string;
  planHash: string;
  /** The phases in the order they run (the plan's, with the designer's proposals inserted), JSON. */
  phases: string;
  state: RunState;
  phaseIndex: number;
  bestConfig: string;
  bestEval: number | null;
  /** The best eval loss so far after each closed phase, JSON number[] (the convergence rule reads it). */
  history: string;
  proposals: number;
  secret: string;
  stopReason: string | null;
  startedAt: number;
  updatedAt: number;
}

export interface TrialRow {
  runId: string;
  trialId: string;
  phaseIndex: number;
  config: string;
  configKey: string;
  seed: number;
  steps: number;
  state: TrialState;
  assignee: string | null;
  assignedAt: number | null;
  attempts: number;
  jobDigest: string | null;
  result: string | null;
  resultSignature: string | null;
  evalLoss: number | null;
  testLoss: number | null;
  checkpointSha256: string | null;
  manifestId: string | null;
  verified: number | null;
  seconds: number | null;
  tokens: number | null;
  note: string | null;
  /** JSON [{job, worker}]: earlier offers of this trial, reassigned after their deadline or their worker's silence. */
  priorJobs: string;
  /** The ledger round of this trial's receipt (records.ts TRIAL_CREDIT_BASE), set when first offered to another node. */
  creditRound: number | null;
  creditState: CreditState | null;
  creditNote: string | null;
}

/** Worker side: a trial this node ran for a research node, as the receipt check reads it. */
export interface ServedRow {
  jobDigest: string;
  runId: string;
  trialId: string;
  researcher: string;
  state: string;
  tokens: number | null;
  checkpointSha256: string | null;
  creditRound: number | null;
}

/** The fields of a trial that is with no worker: queued again, or never offered. */
export const UNASSIGNED = { assignee: null, assignedAt: null, jobDigest: null } as const;
/** The fields of a trial without a result (never reported, or dropped). */
export const NO_RESULT = {
  result: null,
  resultSignature: null,
  evalLoss: null,
  testLoss: null,
  checkpointSha256: null,
  manifestId: null,
  verified: null,
} as const;

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
function rowOf<T>(r: unknown): T {
  return Object.fromEntries(Object.entries(r as Record<string, unknown>).map(([k, v]) => [camel(k), v])) as T;
}
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The research part's tables; every change of a run's state is one transaction. */
export class ResearchRepo {
  constructor(readonly db: StateDb) {}

  tx<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  insertRun(r: RunRow): void {
    this.db
      .prepare(
        `INSERT INTO research_runs (run_id, name, plan, plan_hash, phases, state, phase_index, best_config, best_eval, history, proposals, secret, stop_reason, started_at, updated_at)
         VALUES (@runId, @name, @plan, @planHash, @phases, @state, @phaseIndex, @bestConfig, @bestEval, @history, @proposals, @secret, @stopReason, @startedAt, @updatedAt)`,
      )
      .run(r);
  }

  run(runId: string): RunRow | undefined {
    const r = this.db.prepare('SELECT * FROM research_runs WHERE run_id = ?').get(runId);
    return r ? rowOf<RunRow>(r) : undefined;
  }

  /** The run in progress (at most one per node), else the newest. */
  current(): RunRow | undefined {
    const r =
      this.db.prepare(`SELECT * FROM research_runs WHERE state = 'running' ORDER BY started_at DESC LIMIT 1`).get() ??
      this.db.prepare('SELECT * FROM research_runs ORDER BY started_at DESC LIMIT 1').get();
    return r ? rowOf<RunRow>(r) : undefined;
  }

  updateRun(runId: string, patch: Partial<RunRow>): void {
    const keys = Object.keys(patch);
    if (keys.length === 0) return;
    const set = [...keys.map((k) => `${snake(k)} = @${k}`), 'updated_at = @updatedAt'].join(', ');
    this.db.prepare(`UPDATE research_runs SET ${set} WHERE run_id = @runId`).run({ updatedAt: Date.now(), ...patch, runId });
  }

  insertTrial(
    t: Pick<TrialRow, 'runId' | 'trialId' | 'phaseIndex' | 'config' | 'configKey' | 'seed' | 'steps' | 'state'> & Partial<TrialRow>,
  ): void {
    const row: TrialRow = {
      ...UNASSIGNED,
      ...NO_RESULT,
      attempts: 0,
      seconds: null,
      tokens: null,
      note: null,
      priorJobs: '[]',
      ...t,
      // A new trial has no credit yet (a reused trial copies a prior one's fields, never its credit).
      creditRound: null,
      creditState: null,
      creditNote: null,
    };
    this.db
      .prepare(
        `INSERT INTO research_trials (run_id, trial_id, phase_index, config, config_key, seed, steps, state, assignee, assigned_at, attempts, job_digest, result, result_signature, eval_loss, test_loss, checkpoint_sha256, manifest_id, verified, seconds, tokens, note, prior_jobs, credit_round, credit_state, credit_note)
         VALUES (@runId, @trialId, @phaseIndex, @config, @configKey, @seed, @steps, @state, @assignee, @assignedAt, @attempts, @jobDigest, @result, @resultSignature, @evalLoss, @testLoss, @checkpointSha256, @manifestId, @verified, @seconds, @tokens, @note, @priorJobs, @creditRound, @creditState, @creditNote)`,
      )
      .run(row);
  }

  trial(runId: string, trialId: string): TrialRow | undefined {
    const r = this.db.prepare('SELECT * FROM research_trials WHERE run_id = ? AND trial_id = ?').get(runId, trialId);
    return r ? rowOf<TrialRow>(r) : undefined;
  }

  trials(runId: string, phaseIndex?: number): TrialRow[] {
    const rows =
      phaseIndex === undefined
        ? this.db.prepare('SELECT * FROM research_trials WHERE run_id = ? ORDER BY phase_index, trial_id').all(runId)
        : this.db.prepare('SELECT * FROM research_trials WHERE run_id = ? AND phase_index = ? ORDER BY trial_id').all(runId, phaseIndex);
    return rows.map((r) => rowOf<TrialRow>(r));
  }

  updateTrial(runId: string, trialId: string, patch: Partial<TrialRow>): void {
    const keys = Object.keys(patch);
    if (keys.length === 0) return;
    const set = keys.map((k) => `${snake(k)} = @${k}`).join(', ');
    this.db.prepare(`UPDATE research_trials SET ${set} WHERE run_id = @runId AND trial_id = @trialId`).run({ ...patch, runId, trialId });
  }

  /** The ledger round for a trial's first offer to another node: one more than any this node gave before. */
  nextCreditRound(base: number): number {
    const r = this.db.prepare('SELECT MAX(credit_round) AS m FROM research_trials').get() as { m: number | null };
    return Math.max(base, r.m ?? 0) + 1;
  }

  /** Done trials of ended runs (not running) whose credit is not settled yet. */
  unsettledCredits(): TrialRow[] {
    return this.db
      .prepare(
        `SELECT t.* FROM research_trials t JOIN research_runs r ON r.run_id = t.run_id
         WHERE r.state != 'running' AND t.state = 'done' AND t.credit_round IS NOT NULL AND t.credit_state IS NULL
         ORDER BY t.credit_round`,
      )
      .all()
      .map((r) => rowOf<TrialRow>(r));
  }

  /** Trials whose credit is in the given state, oldest first. */
  credits(state: CreditState, limit = 10_000): TrialRow[] {
    return this.db
      .prepare('SELECT * FROM research_trials WHERE credit_state = ? ORDER BY credit_round LIMIT ?')
      .all(state, limit)
      .map((r) => rowOf<TrialRow>(r));
  }

  setCredit(runId: string, trialId: string, state: CreditState, note: string | null = null): void {
    this.db
      .prepare('UPDATE research_trials SET credit_state = ?, credit_note = ? WHERE run_id = ? AND trial_id = ?')
      .run(state, note, runId, trialId);
  }

  creditCounts(): Record<string, number> {
    const rows = this.db
      .prepare('SELECT credit_state AS s, COUNT(*) AS n FROM research_trials WHERE credit_state IS NOT NULL GROUP BY credit_state')
      .all() as { s: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.s, r.n]));
  }

  refuseWorker(runId: string, nodeId: string, reason: string): void {
    this.db
      .prepare('INSERT OR IGNORE INTO research_refused_workers (run_id, node_id, reason, at) VALUES (?, ?, ?, ?)')
      .run(runId, nodeId, reason, Date.now());
  }

  refusedWorkers(runId: string): { nodeId: string; reason: string; at: number }[] {
    return this.db
      .prepare('SELECT node_id, reason, at FROM research_refused_workers WHERE run_id = ? ORDER BY at')
      .all(runId)
      .map((r) => rowOf<{ nodeId: string; reason: string; at: number }>(r));
  }

  addFinding(runId: string, kind: string, body: string, signature: string): number {
    const seq = (
      this.db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM research_findings WHERE run_id = ?').get(runId) as { n: number }
    ).n;
    this.db
      .prepare('INSERT INTO research_findings (run_id, seq, kind, body, signature, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(runId, seq, kind, body, signature, Date.now());
    return seq;
  }

  setFindingManifest(runId: string, seq: number, manifestId: string): void {
    this.db.prepare('UPDATE research_findings SET manifest_id = ? WHERE run_id = ? AND seq = ?').run(manifestId, runId, seq);
  }

  findings(
    runId?: string,
  ): { runId: string; seq: number; kind: string; body: string; signature: string; manifestId: string | null; createdAt: number }[] {
    const rows = runId
      ? this.db.prepare('SELECT * FROM research_findings WHERE run_id = ? ORDER BY seq').all(runId)
      : this.db.prepare('SELECT * FROM research_findings ORDER BY created_at, seq').all();
    return rows.map((r) => rowOf(r));
  }

  /** The blobs of the knowledge base (this node's findings and those it imported): storage GC keeps them. */
  findingManifests(): string[] {
    return (
      this.db.prepare('SELECT DISTINCT manifest_id FROM research_findings WHERE manifest_id IS NOT NULL').all() as { manifest_id: string }[]
    ).map((r) => r.manifest_id);
  }

  /** Worker side: a trial this node accepted from a research node (its own contribution record). */
  served(
    jobDigest: string,
    patch: {
      runId: string;
      trialId: string;
      researcher: string;
      state: string;
      tokens?: number;
      seconds?: number;
      note?: string;
      creditRound?: number;
      checkpointSha256?: string;
    },
  ): void {
    const now = Date.now();
    this.db
      .prepare(
        `INSERT INTO research_served (job_digest, run_id, trial_id, researcher, state, tokens, seconds, note, credit_round, checkpoint_sha256, created_at, updated_at)
         VALUES (@jobDigest, @runId, @trialId, @researcher, @state, @tokens, @seconds, @note, @creditRound, @checkpointSha256, @now, @now)
         ON CONFLICT(job_digest) DO UPDATE SET state = excluded.state, tokens = excluded.tokens, seconds = excluded.seconds, note = excluded.note,
           credit_round = COALESCE(research_served.credit_round, excluded.credit_round),
           checkpoint_sha256 = COALESCE(excluded.checkpoint_sha256, research_served.checkpoint_sha256), updated_at = excluded.updated_at`,
      )
      .run({ jobDigest, tokens: null, seconds: null, note: null, creditRound: null, checkpointSha256: null, ...patch, now });
  }

  /**
   * The trial this node ran for `researcher` under ledger round `round` (the one it reported, if several). By both:
   * another member's job naming the same round must not hide the trial from its own research node's receipt.
   */
  servedByCredit(round: number, researcher: string): ServedRow | undefined {
    const r = this.db
      .prepare(
        `SELECT job_digest, run_id, trial_id, researcher, state, tokens, checkpoint_sha256, credit_round FROM research_served
         WHERE credit_round = ? AND researcher = ? ORDER BY state = 'reported' DESC, updated_at DESC LIMIT 1`,
      )
      .get(round, researcher);
    return r ? rowOf<ServedRow>(r) : undefined;
  }

  /** After a restart: trials this node was running for others died with the process (their research node reassigns them). */
  interruptServed(): void {
    this.db.prepare(`UPDATE research_served SET state = 'interrupted', updated_at = ? WHERE state = 'running'`).run(Date.now());
  }

  servedCounts(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM research_served GROUP BY state').all() as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}
