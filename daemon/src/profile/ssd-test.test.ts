import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { median, runSsdTest } from './ssd-test.js';

test('median: the middle value, the lower middle of an even count', () => {
  assert.equal(median([88, 140, 95]), 95);
  assert.equal(median([120, 60, 90, 100]), 90);
  assert.equal(median([7]), 7);
});

test('the SSD test makes several passes over one scratch file, reports the median, and leaves nothing behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-ssd-'));
  const r = await runSsdTest(dir, 32, 2, 3);
  assert.equal(r.runs, 3);
  assert.equal(r.blocks, 32);
  assert.ok(r.readMBps > 0 && r.writeMBps > 0);
  assert.deepEqual(readdirSync(dir), []);
});
