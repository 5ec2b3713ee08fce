import type Database from 'better-sqlite3';

/**
 * Numbered, append-only migrations, one sequence per part. A part never edits a migration that has shipped;
 * it appends the next version.
 */
export interface Migration {
  part: string;
  version: number;
  name: string;
  up: string | ((db: Database.Database) => void);
}

const BOOTSTRAP = `CREATE TABLE IF NOT EXISTS schema_migrations (
  part TEXT NOT NULL,
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (part, version)
)`;

/** Applies every migration not yet applied, each in its own transaction, in (part order, version) order. */
export function migrate(db: Database.Database, migrations: readonly Migration[]): { applied: string[] } {
  db.exec(BOOTSTRAP);
  const rows = db.prepare('SELECT part, version FROM schema_migrations').all() as { part: string; version: number }[];
  const done = new Set(rows.map((r) => `${r.part}:${r.version}`));
  const known = new Map<string, number>();
  for (const m of migrations) known.set(m.part, Math.max(known.get(m.part) ?? 0, m.version));
  for (const r of rows) {
    const max = known.get(r.part);
    if (max !== undefined && r.version > max) {
      throw new Error(`the state database has migration ${r.part}:${r.version}, newer than this magnet-node knows (${r.part}:${max}); use a newer magnet-node`);
    }
  }
  const insert = db.prepare('INSERT INTO schema_migrations (part, version, name, applied_at) VALUES (?, ?, ?, ?)');
  const applied: string[] = [];
  const partOrder = [...known.keys()];
  const sorted = [...migrations].sort((a, b) => partOrder.indexOf(a.part) - partOrder.indexOf(b.part) || a.version - b.version);
  for (const m of sorted) {
    const id = `${m.part}:${m.version}`;
    if (done.has(id)) continue;
    db.transaction(() => {
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      insert.run(m.part, m.version, m.name, Date.now());
    })();
    applied.push(id);
  }
  return { applied };
}
