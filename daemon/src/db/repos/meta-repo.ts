import type { StateDb } from '../database.js';
import type { Migration } from '../migrations.js';

export const metaMigrations: Migration[] = [
  {
    part: 'core',
    version: 1,
    name: 'meta key-value table',
    up: `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL)`,
  },
];

/** Small facts about this node's state (its nodeId, first start, last start). */
export class MetaRepository {
  constructor(private readonly db: StateDb) {}

  get(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  set(key: string, value: string): void {
    this.db
      .prepare('INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at')
      .run(key, value, Date.now());
  }
}
