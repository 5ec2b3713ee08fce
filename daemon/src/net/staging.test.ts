import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StagingArea } from './staging.js';

const A = 'node-aaaaaaaaaaaaaaaa';
const B = 'node-bbbbbbbbbbbbbbbb';
const sha = (c: string) => c.repeat(64);

test('partial uploads are collected after the staging timeout; fresh and running ones stay; idle ones count per sender', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-staging-'));
  try {
    const s = new StagingArea(join(dir, 'incoming'), 60_000);
    await s.init();
    const now = Date.now();
    const old = s.path(A, sha('1'));
    const fresh = s.path(A, sha('2'));
    const running = s.path(B, sha('3'));
    for (const [f, n] of [
      [old, 100],
      [fresh, 200],
      [running, 400],
    ] as const)
      writeFileSync(f, Buffer.alloc(n));
    const stray = join(s.dir, 'not-a-part');
    writeFileSync(stray, 'x');
    for (const f of [old, running]) utimesSync(f, new Date(now - 120_000), new Date(now - 120_000));
    const done = s.claim(B, sha('3'));
    assert.ok(done);
    assert.equal(s.claim(B, sha('3')), undefined, 'one upload of a blob per sender at a time');
    assert.deepEqual(await s.usage(A), { peer: 300, all: 300 }, 'running uploads are counted by their reservation, not here');
    assert.deepEqual(await s.sweep(now), { files: 2, bytes: 101 });
    assert.equal(existsSync(old), false);
    assert.equal(existsSync(stray), false);
    assert.equal(existsSync(fresh), true);
    assert.equal(existsSync(running), true, 'an upload in flight is never collected');
    done?.();
    assert.equal((await s.sweep(now)).files, 1, 'once it stops, its part ages like any other');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
