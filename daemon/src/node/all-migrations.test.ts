import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStateDb } from '../db/database.js';
import { allMigrations } from './all-migrations.js';

const dbPath = () => join(mkdtempSync(join(tmpdir(), 'magnet-db-')), 'state.db');

test('fresh database: every migration applied once, WAL mode on', () => {
  const path = dbPath();
  const first = openStateDb(path, allMigrations);
  assert.deepEqual(first.applied.sort(), allMigrations.map((m) => `${m.part}:${m.version}`).sort());
  assert.equal(first.db.pragma('journal_mode', { simple: true }), 'wal');
  first.db.close();
  const again = openStateDb(path, allMigrations);
  assert.deepEqual(again.applied, []);
  again.db.close();
});
