import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type Database from 'better-sqlite3';
import { openStateDb } from '../db/database.js';
import { metaMigrations } from '../db/repos/meta-repo.js';
import { dilocoMigrations } from './round-repo.js';

const dbPath = () => join(mkdtempSync(join(tmpdir(), 'magnet-diloco-db-')), 'state.db');

test('an old database with the unused checkpoints table migrates cleanly: the table goes, its neighbours stay', () => {
  const path = dbPath();
  const old = openStateDb(path, [...metaMigrations, ...dilocoMigrations.filter((m) => m.version <= 2)]);
  const hasTable = (db: Database.Database, name: string) =>
    (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) as { n: number }).n === 1;
  assert.ok(hasTable(old.db, 'checkpoints'));
  old.db.prepare('INSERT INTO checkpoints (sha256, round, path, created_at) VALUES (?, ?, ?, ?)').run('a'.repeat(64), 0, '/x', 1);
  old.db
    .prepare(
      "INSERT INTO rounds (round, leader, state, base_sha256, inner_steps, deadline_ms, eligible_json, created_at, updated_at) VALUES (0, 'l', 'merged', ?, 1, 1, '[]', 1, 1)",
    )
    .run('b'.repeat(64));
  old.db.close();
  const upgraded = openStateDb(path, [...metaMigrations, ...dilocoMigrations]);
  assert.deepEqual(upgraded.applied, ['diloco:3']);
  assert.equal(hasTable(upgraded.db, 'checkpoints'), false);
  assert.deepEqual(upgraded.db.prepare('SELECT round, state FROM rounds').all(), [{ round: 0, state: 'merged' }]);
  upgraded.db.close();
  const fresh = openStateDb(dbPath(), [...metaMigrations, ...dilocoMigrations]);
  assert.equal(hasTable(fresh.db, 'checkpoints'), false);
  fresh.db.close();
});
