import type { StateDb } from '../db/database.js';
import type { Migration } from '../db/migrations.js';

export const lossHistoryMigrations: Migration[] = [
  {
    part: 'diloco',
    version: 4,
    name: 'held-out loss of each merge this node judged',
    up: `
      CREATE TABLE round_losses (
        round INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL,
        loss_parent REAL NOT NULL,
        loss_merged REAL NOT NULL,
        judged_at INTEGER NOT NULL
      );`,
  },
];

/** One point of the loss curve: the held-out loss of a round's parent and of its merge, on this node's windows. */
export interface RoundLoss {
  round: number;
  sha256: string;
  lossParent: number;
  lossMerged: number;
  judgedAt: number;
}

/**
 * The held-out loss across rounds, as this node measured it when it judged each merge (as leader or voter): the
 * curve the dashboard draws. Only finite losses are kept; the last judgement of a round wins.
 */
export class LossHistory {
  constructor(private readonly db: StateDb) {}

  record(p: Omit<RoundLoss, 'judgedAt'>, now = Date.now()): void {
    if (!Number.isFinite(p.lossParent) || !Number.isFinite(p.lossMerged)) return;
    this.db
      .prepare(
        `INSERT INTO round_losses (round, sha256, loss_parent, loss_merged, judged_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (round) DO UPDATE SET sha256 = excluded.sha256, loss_parent = excluded.loss_parent,
           loss_merged = excluded.loss_merged, judged_at = excluded.judged_at`,
      )
      .run(p.round, p.sha256, p.lossParent, p.lossMerged, now);
  }

  /** The last `limit` rounds, oldest first. */
  recent(limit = 500): RoundLoss[] {
    const rows = this.db
      .prepare('SELECT round, sha256, loss_parent, loss_merged, judged_at FROM round_losses ORDER BY round DESC LIMIT ?')
      .all(limit) as Record<string, unknown>[];
    return rows.reverse().map((r) => ({
      round: r['round'] as number,
      sha256: r['sha256'] as string,
      lossParent: r['loss_parent'] as number,
      lossMerged: r['loss_merged'] as number,
      judgedAt: r['judged_at'] as number,
    }));
  }
}
