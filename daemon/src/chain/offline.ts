import { openStateDb } from '../db/database.js';
import { metaMigrations } from '../db/repos/meta-repo.js';
import { ClaimQueue, type ClaimRow, chainMigrations } from './claim-store.js';

/** A claim as the CLI prints it: the bigints as decimal strings. */
export type ClaimView = Omit<ClaimRow, 'epoch' | 'reward'> & { epoch: string; reward: string | null };

/**
 * This node's claim queue read straight from the state database, for `magnet-node claims` with no daemon running
 * (the CLI never opens chain's tables itself). The database is migrated as far as chain needs, as a start would.
 */
export function readClaims(dbPath: string): ClaimView[] {
  const { db } = openStateDb(dbPath, [...metaMigrations, ...chainMigrations]);
  try {
    return new ClaimQueue(db).all().map((c) => ({ ...c, epoch: c.epoch.toString(), reward: c.reward?.toString() ?? null }));
  } finally {
    db.close();
  }
}
