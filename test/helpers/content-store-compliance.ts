import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CID } from 'multiformats/cid';
import { contentCid, sha256Hex } from '../../daemon/src/storage/cid.js';
import type { ContentStore } from '../../daemon/src/storage/stores/content-store.js';

/**
 * The behaviour every ContentStore must show. Each implementation's test file calls this with a factory that
 * makes a fresh, real store (the kubo one runs against a real kubo daemon).
 */
export function contentStoreCompliance(label: string, make: () => Promise<{ store: ContentStore; cleanup(): Promise<void> }>): void {
  const withStore = (name: string, fn: (store: ContentStore) => Promise<void>) =>
    test(`${label}: ${name}`, async () => {
      const { store, cleanup } = await make();
      try {
        await fn(store);
      } finally {
        await cleanup();
      }
    });

  withStore('a small shard is CIDv1 raw sha2-256 of its bytes and reads back', async (store) => {
    const bytes = randomBytes(1000);
    const ref = await store.put(bytes);
    assert.equal(ref.sha256, sha256Hex(bytes));
    const cid = CID.parse(ref.cid);
    assert.equal(cid.version, 1);
    assert.equal(cid.code, 0x55); // raw
    assert.equal(cid.multihash.code, 0x12); // sha2-256
    assert.equal(Buffer.from(cid.multihash.digest).toString('hex'), ref.sha256);
    assert.ok(Buffer.from((await store.get(ref))!).equals(bytes));
    assert.equal(await store.has(ref), true);
  });

  withStore('a multi-chunk shard gets the unixfs-v1-2025 CID and reads back whole', async (store) => {
    const bytes = randomBytes(3 * (1 << 20) + 12_345);
    const ref = await store.put(bytes);
    assert.equal(ref.cid, contentCid(bytes));
    assert.equal(CID.parse(ref.cid).code, 0x70); // dag-pb root over raw leaves
    assert.ok(Buffer.from((await store.get(ref))!).equals(bytes));
  });

  withStore('absent content: has is false, get is undefined, unpin is a no-op', async (store) => {
    const bytes = randomBytes(64);
    const ref = { sha256: sha256Hex(bytes), cid: contentCid(bytes) };
    assert.equal(await store.has(ref), false);
    assert.equal(await store.get(ref), undefined);
    await store.unpin(ref);
  });

  withStore('put is idempotent and unpin stops keeping the content', async (store) => {
    const bytes = randomBytes(5000);
    const a = await store.put(bytes);
    const b = await store.put(bytes);
    assert.deepEqual(a, b);
    await store.unpin(a);
    assert.equal(await store.has(a), false);
    const again = await store.put(bytes);
    assert.equal(await store.has(again), true);
  });

  withStore('reports itself available', async (store) => {
    assert.equal(await store.available(), true);
  });
}
