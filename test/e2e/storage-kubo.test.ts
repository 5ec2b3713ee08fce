import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentCid, hashFile } from '../../daemon/src/storage/cid.js';
import { contentStoreCompliance } from '../helpers/content-store-compliance.js';
import { KuboStore, toApiUrl } from '../../daemon/src/storage/stores/kubo-store.js';
import { isMagnetError } from '../../daemon/src/util/errors.js';
import { type RunningKubo, startKubo } from '../helpers/kubo.js';

// One real kubo (offline, loopback) for the whole file; each compliance case uses fresh random content.
let kubo: RunningKubo;
before(async () => {
  kubo = await startKubo();
});
after(async () => {
  await kubo?.destroy();
});

contentStoreCompliance('kubo store', async () => ({ store: new KuboStore({ api: kubo.apiUrl }), cleanup: async () => undefined }));

test('kubo store: the multiaddr from the repo api file works as the API address', async () => {
  const store = new KuboStore({ api: kubo.apiMultiaddr });
  const bytes = randomBytes(2 << 20);
  assert.equal((await store.put(bytes)).cid, contentCid(bytes));
});

test('kubo store: a 16 MiB shard (16 leaves) gets the CID the embedded store computes', async () => {
  const store = new KuboStore({ api: kubo.apiUrl });
  const bytes = randomBytes(16 << 20);
  const ref = await store.put(bytes); // put itself refuses a CID that differs from contentCid
  assert.equal(ref.cid, contentCid(bytes));
});

test('kubo store: a 180 MiB shard streamed from its file (more leaves than kubo links by default) gets the same CID', async () => {
  const store = new KuboStore({ api: kubo.apiUrl });
  const dir = mkdtempSync(join(tmpdir(), 'magnet-kubo-file-'));
  try {
    const file = join(dir, 'shard');
    writeFileSync(file, randomBytes(180 << 20));
    const ref = await hashFile(file);
    // putFile refuses a CID other than ref.cid: kubo's default of 174 links per file node would give another.
    assert.deepEqual(await store.putFile(file, ref), { sha256: ref.sha256, cid: ref.cid });
    assert.equal(await store.has(ref), true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kubo store: kubo down is reported as unavailable and puts fail with ERR_KUBO', async () => {
  await kubo.stop();
  try {
    const store = new KuboStore({ api: kubo.apiUrl, timeoutMs: 2000 });
    assert.equal(await store.available(), false);
    await assert.rejects(store.put(randomBytes(10)), (e) => isMagnetError(e, 'ERR_KUBO'));
  } finally {
    await kubo.restart();
  }
  assert.equal(await new KuboStore({ api: kubo.apiUrl }).available(), true);
});

test('kubo API addresses: URL, URL with path, multiaddr; garbage is a clear error', () => {
  assert.equal(toApiUrl('http://127.0.0.1:5001'), 'http://127.0.0.1:5001/api/v0');
  assert.equal(toApiUrl('http://127.0.0.1:5001/api/v0'), 'http://127.0.0.1:5001/api/v0');
  assert.equal(toApiUrl('/ip4/127.0.0.1/tcp/5001'), 'http://127.0.0.1:5001/api/v0');
  assert.throws(
    () => toApiUrl('nonsense'),
    (e) => isMagnetError(e, 'ERR_CONFIG'),
  );
});
