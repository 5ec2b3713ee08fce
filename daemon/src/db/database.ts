import Database from 'better-sqlite3';
import { MagnetError, errorMessage } from '../util/errors.js';
import { type Migration, migrate } from './migrations.js';

export type StateDb = Database.Database;

/**
 * Opens the state database (WAL mode), checks that it is a healthy SQLite file, and migrates it.
 * A corrupted file is never overwritten: the error says to move it aside.
 */
export function openStateDb(path: string, migrations: readonly Migration[]): { db: StateDb; applied: string[] } {
  let db: StateDb;
  try {
    db = new Database(path, { timeout: 5000 });
  } catch (err) {
    throw new MagnetError('ERR_DB_OPEN', `cannot open the state database ${path}: ${errorMessage(err)}`, { path });
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(String(check));
  } catch (err) {
    db.close();
    const msg = errorMessage(err);
    throw new MagnetError(
      'ERR_DB_CORRUPT',
      `the state database ${path} is unreadable or corrupted (${msg}); it was left untouched: move it aside (keep it for recovery) and start again`,
      { path },
    );
  }
  try {
    const { applied } = migrate(db, migrations);
    return { db, applied };
  } catch (err) {
    db.close();
    throw new MagnetError('ERR_DB_MIGRATE', `cannot migrate the state database ${path}: ${errorMessage(err)}`, { path });
  }
}
