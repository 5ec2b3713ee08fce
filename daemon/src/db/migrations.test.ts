import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { isMagnetError } from '../util/errors.js';
import { openStateDb } from './database.js';
import type { Migration } from './migrations.js';
import { metaMigrations } from './repos/meta-repo.js';

const dbPath = () => join(mkdtempSync(join(tmpdir(), 'magnet-db-')), 'state.db');

test('old database: only the new migrations run and existing rows survive', () => {
  const path = dbPath();
  const v1: Migration[] = [{ part: 'demo', version: 1, name: 'things', up: 'CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)' }];
  const old = openStateDb(path, v1);
  old.db.prepare('INSERT INTO things (name) VALUES (?)').run('kept');
  old.db.close();
  const v2: Migration[] = [
    ...v1,
    { part: 'demo', version: 2, name: 'add size', up: 'ALTER TABLE things ADD COLUMN size INTEGER NOT NULL DEFAULT 0' },
  ];
  const upgraded = openStateDb(path, v2);
  assert.deepEqual(upgraded.applied, ['demo:2']);
  assert.deepEqual(upgraded.db.prepare('SELECT name, size FROM things').all(), [{ name: 'kept', size: 0 }]);
  upgraded.db.close();
});

test('a failing migration rolls back and leaves the database as it was', () => {
  const path = dbPath();
  const ok: Migration = { part: 'demo', version: 1, name: 'ok', up: 'CREATE TABLE a (x)' };
  openStateDb(path, [ok]).db.close();
  const bad: Migration = { part: 'demo', version: 2, name: 'bad', up: 'CREATE TABLE b (x); SELECT * FROM missing_table' };
  assert.throws(
    () => openStateDb(path, [ok, bad]),
    (err) => isMagnetError(err, 'ERR_DB_MIGRATE'),
  );
  const db = new Database(path);
  const row = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'b'").get() as { n: number };
  assert.equal(row.n, 0);
  db.close();
});

test('a database from a newer magnet-node is refused', () => {
  const path = dbPath();
  const newer: Migration[] = [
    { part: 'demo', version: 1, name: 'one', up: 'CREATE TABLE a (x)' },
    { part: 'demo', version: 2, name: 'two', up: 'CREATE TABLE b (x)' },
  ];
  openStateDb(path, newer).db.close();
  assert.throws(() => openStateDb(path, newer.slice(0, 1)), /newer than this magnet-node knows/);
});

test('a corrupted database file is refused and left untouched', () => {
  const path = dbPath();
  const garbage = Buffer.alloc(8192, 7);
  writeFileSync(path, garbage);
  assert.throws(
    () => openStateDb(path, metaMigrations),
    (err) => isMagnetError(err, 'ERR_DB_CORRUPT') && /move it aside/.test((err as Error).message),
  );
  assert.deepEqual(readFileSync(path), garbage);
});
