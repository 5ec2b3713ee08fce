import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isMagnetError } from '../../util/errors.js';
import { sha256Hex } from '../cid.js';
import { contentStoreCompliance } from '../../../../test/helpers/content-store-compliance.js';
import { EmbeddedStore } from './embedded-store.js';

async function fresh(): Promise<{ store: EmbeddedStore; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-shards-'));
  const store = new EmbeddedStore(dir);
  await store.init();
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}

contentStoreCompliance('embedded store', fresh);

test('embedded store: a flipped bit is detected, reported and the bad file moved aside', async () => {
  const { store, cleanup } = await fresh();
  try {
    const bytes = randomBytes(4096);
    const ref = await store.put(bytes);
    const bad = Buffer.from(bytes);
    bad[100]! ^= 0x01;
    writeFileSync(store.pathOf(ref.sha256), bad);
    await assert.rejects(store.get(ref), (e) => isMagnetError(e, 'ERR_CONTENT_CORRUPT'));
    assert.equal(await store.has(ref), false);
    await store.put(bytes); // a good copy takes its place
    assert.ok(Buffer.from((await store.get(ref))!).equals(bytes));
  } finally {
    await cleanup();
  }
});

test('embedded store: data-plane backend reads from an offset and accepts only matching files', async () => {
  const { store, cleanup } = await fresh();
  try {
    const bytes = randomBytes(3 << 20);
    const sha = sha256Hex(bytes);
    const staged = join(store.dir, 'staged.bin');
    writeFileSync(staged, bytes);
    await assert.rejects(store.accept('0'.repeat(64), staged), (e) => isMagnetError(e, 'ERR_CONTENT_CORRUPT'));
    await store.accept(sha, staged);
    assert.deepEqual(await store.stat(sha), { size: bytes.length });
    const parts: Uint8Array[] = [];
    for await (const c of store.read(sha, 1000)) parts.push(c);
    assert.ok(Buffer.concat(parts).equals(bytes.subarray(1000)));
  } finally {
    await cleanup();
  }
});

test('embedded store: a full disk is a clear error and leaves no partial shard', async () => {
  // A real write failure: the child runs with a 64 KiB file-size limit (Node ignores SIGXFSZ, so write gets EFBIG).
  const dir = mkdtempSync(join(tmpdir(), 'magnet-full-'));
  try {
    const script = fileURLToPath(new URL('./embedded-store.full-disk.js', import.meta.url));
    const r = spawnSync('sh', ['-c', `ulimit -f 64 && exec "${process.execPath}" "${script}" "${dir}"`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { code: string; message: string };
    assert.equal(result.code, 'ERR_DISK_FULL');
    assert.match(result.message, /no space left/);
    const files = readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => !f.startsWith('tmp'));
    assert.deepEqual(
      files.filter((f) => /[0-9a-f]{64}$/.test(f)),
      [],
      'no shard file under a content name',
    );
    assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no temp file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
