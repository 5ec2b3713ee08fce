import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CHUNK_SIZE, ContentHasher, contentCid, sha256Hex } from '../cid.js';
import { encodeFile, joinFiles, rebuildFiles } from './file-coding.js';
import { ReedSolomon } from './reed-solomon.js';

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-filecoding-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

// Windows of 64 KiB over shards of 250_001 bytes: three whole windows and a ragged fourth, per shard.
const WINDOW = 64 << 10;

test('file coding: shards coded window by window are byte for byte the shards of the whole-blob codec', () =>
  withDir(async (dir) => {
    const rs = new ReedSolomon(4, 2);
    for (const size of [0, 1, 1_000_003]) {
      const blob = randomBytes(size);
      const src = join(dir, `blob-${size}`);
      writeFileSync(src, blob);
      const work = mkdtempSync(join(dir, 'work-'));
      const coded = await encodeFile(rs, src, work, WINDOW);
      const data = rs.split(blob);
      const whole = [...data, ...(await rs.encode(data))];
      assert.deepEqual(coded.blob, { sha256: sha256Hex(blob), size });
      assert.equal(coded.shardSize, whole[0]!.length);
      coded.shards.forEach((s, i) => {
        const bytes = readFileSync(s.file);
        assert.ok(bytes.equals(whole[i]!), `shard ${i} of a ${size}-byte blob`);
        assert.deepEqual(s.ref, { sha256: sha256Hex(bytes), cid: contentCid(bytes) });
      });
    }
  }));

test('file coding: two lost data shards are rebuilt by windows and the blob joins back whole; a parity shard too', () =>
  withDir(async (dir) => {
    const rs = new ReedSolomon(4, 2);
    const blob = randomBytes(1_000_003);
    const src = join(dir, 'blob');
    writeFileSync(src, blob);
    const coded = await encodeFile(rs, src, dir, WINDOW);
    const present = coded.shards.map((s, i) => (i === 0 || i === 2 ? undefined : s.file));
    const rebuilt = await rebuildFiles(rs, present, coded.shardSize, [0, 2], dir, WINDOW);
    assert.deepEqual([...rebuilt.keys()].sort(), [0, 2]);
    for (const [i, r] of rebuilt) assert.equal(r.ref.sha256, coded.shards[i]!.ref.sha256, `rebuilt shard ${i}`);
    const data = [0, 1, 2, 3].map((i) => rebuilt.get(i)?.file ?? present[i]!);
    const out = join(dir, 'out');
    assert.equal(await joinFiles(data, blob.length, out), sha256Hex(blob));
    assert.ok(readFileSync(out).equals(blob));
    // Parity lost with a data shard: rebuilt from the other four.
    const parityLost = coded.shards.map((s, i) => (i === 5 || i === 1 ? undefined : s.file));
    const again = await rebuildFiles(rs, parityLost, coded.shardSize, [5], mkdtempSync(join(dir, 'again-')), WINDOW);
    assert.equal(again.get(5)!.ref.sha256, coded.shards[5]!.ref.sha256);
    await assert.rejects(
      rebuildFiles(
        rs,
        [coded.shards[0]!.file, undefined, undefined, undefined, coded.shards[4]!.file, coded.shards[5]!.file],
        coded.shardSize,
        [1],
        dir,
        WINDOW,
      ),
      /only 3 of 6 shards present/,
    );
  }));

test('content hasher: the sha256 and CID of bytes fed in any pieces are those of the bytes at once, across the 1 MiB leaf edge', () => {
  for (const size of [0, 5, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7]) {
    const bytes = randomBytes(size);
    const h = new ContentHasher();
    for (let off = 0; off < size; off += 333_333) h.update(bytes.subarray(off, off + 333_333));
    const ref = h.digest();
    assert.equal(ref.sha256, sha256Hex(bytes));
    assert.equal(ref.cid, contentCid(bytes));
    // Up to one chunk, a raw leaf (bafkrei...); above it a dag-pb UnixFS file node (bafybei...).
    assert.match(ref.cid, size <= CHUNK_SIZE ? /^bafkrei/ : /^bafybei/, `size ${size}`);
  }
});
