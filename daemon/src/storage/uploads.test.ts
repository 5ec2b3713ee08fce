import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Wallet } from 'ethers';
import { openStateDb } from '../db/database.js';
import { identityFromWallet } from '../identity/identity.js';
import { createLogger } from '../log/logger.js';
import type { Upload } from '../net/blob-backend.js';
import { Refusal } from '../net/refusal.js';
import { sha256Hex } from './cid.js';
import { DiskWatch } from './disk-watch.js';
import { HeldRepository } from './held-repo.js';
import { wholeBlobManifest } from './manifest.js';
import { StorageRepository, storageMigrations } from './storage-repo.js';
import { EmbeddedStore } from './stores/embedded-store.js';
import { UploadGate } from './uploads.js';

const GiB = 1 << 30;
const alice = identityFromWallet(new Wallet(Wallet.createRandom().privateKey));
const bob = identityFromWallet(new Wallet(Wallet.createRandom().privateKey));

async function setup(space = { free: 100 * GiB, total: 200 * GiB }, quotas = { peer: 4000, total: 6000 }) {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-uploads-'));
  const { db } = openStateDb(join(dir, 'state.db'), storageMigrations);
  const store = new EmbeddedStore(join(dir, 'shards'));
  await store.init();
  const alarms: boolean[] = [];
  const disk = new DiskWatch(
    store.dir,
    { minFreeBytes: 2 * GiB, minFreePercent: 5 },
    createLogger('silent'),
    (low) => alarms.push(low),
    async () => space,
  );
  const held = new HeldRepository(db);
  const gate = new UploadGate({
    self: 'node-00000000000000ff',
    store,
    held,
    repo: new StorageRepository(db),
    disk,
    opts: { peerQuotaBytes: quotas.peer, totalQuotaBytes: quotas.total, leaseMs: 1000, gradientLeaseMs: 500 },
    log: createLogger('silent'),
  });
  store.setUploadGate(gate);
  /** Places `bytes` from `who` the way the data plane does: manifest first, then the blob as its shard. */
  const put = async (who: typeof alice, bytes: Buffer, now = Date.now()): Promise<void> => {
    const m = wholeBlobManifest(bytes, who.signingKey, ['node-00000000000000ff']);
    for (const [u, data] of [
      [{ purpose: 'manifest', sha256: m.id, size: m.bytes.length }, m.bytes],
      [{ purpose: 'shard', sha256: sha256Hex(bytes), size: bytes.length, manifestId: m.id }, bytes],
    ] as const) {
      const up: Upload = { sender: who.nodeId, staged: { peer: 0, all: 0 }, ...u } as Upload;
      const release = await store.admit(up);
      const file = join(dir, `in-${randomBytes(4).toString('hex')}`);
      writeFileSync(file, data);
      await store.accept(up.sha256, file, up);
      gate.accepted(up, now); // (re)recorded with the test's clock
      release();
    }
  };
  return { dir, store, gate, held, disk, alarms, put, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The refusal's reason, or 'ok' (an admitted upload's reservation is released at once unless `keep`). */
async function reason(p: Promise<unknown>, keep = false): Promise<string> {
  try {
    const release = await p;
    if (!keep && typeof release === 'function') release();
  } catch (err) {
    assert.ok(err instanceof Refusal, `expected a Refusal, got ${String(err)}`);
    return err.reason;
  }
  return 'ok';
}

test('per-peer and total byte quotas count what a peer keeps here, its uploads in flight and its partial ones', async () => {
  const t = await setup();
  try {
    await t.put(alice, randomBytes(1000));
    const kept = t.held.bytes(alice.nodeId).peer;
    assert.ok(kept > 1000 && kept < 4000, `alice keeps ${kept} bytes (a blob and its manifest)`);
    const next = wholeBlobManifest(randomBytes(10), alice.signingKey, []);
    const up = (over: Partial<Upload>): Upload => ({
      sender: alice.nodeId,
      sha256: next.id,
      size: next.bytes.length,
      purpose: 'manifest',
      staged: { peer: 0, all: 0 },
      ...over,
    });
    assert.equal(await reason(t.store.admit(up({ staged: { peer: 4000, all: 4000 } }))), 'peer_quota_exceeded', 'partial uploads count');
    const inFlight = await t.store.admit(up({}));
    assert.equal(await reason(t.store.admit(up({ size: 4000 - kept }))), 'peer_quota_exceeded', 'uploads in flight count');
    inFlight();
    assert.equal(await reason(t.store.admit(up({ size: 4000 - kept - 1 }))), 'ok');
    // Two at once, each fitting alone but not together: one of them is refused.
    const half = Math.ceil((4000 - kept) * 0.6);
    const both = await Promise.all([reason(t.store.admit(up({ size: half })), true), reason(t.store.admit(up({ size: half })), true)]);
    assert.deepEqual(both.sort(), ['ok', 'peer_quota_exceeded'], 'concurrent uploads cannot pass the quota together');
    await t.put(bob, randomBytes(1000));
    const bobNext = wholeBlobManifest(randomBytes(10), bob.signingKey, []);
    const total = await reason(t.store.admit({ ...up({}), sender: bob.nodeId, sha256: bobNext.id, size: 1200 }));
    assert.equal(total, 'quota_exceeded', 'every peer together stays under the total quota');
  } finally {
    t.done();
  }
});

test('a disk at the low-watermark refuses uploads before a byte lands, and raises the alarm until space is back', async () => {
  const space = { free: 3 * GiB, total: 200 * GiB }; // the watermark is max(2 GiB, 5% of 200 GiB = 10 GiB)
  const t = await setup(space);
  try {
    const m = wholeBlobManifest(randomBytes(10), alice.signingKey, []);
    const u: Upload = { sender: alice.nodeId, sha256: m.id, size: m.bytes.length, purpose: 'manifest', staged: { peer: 0, all: 0 } };
    assert.equal(await reason(t.store.admit(u)), 'disk_low');
    assert.deepEqual(t.alarms, [true]);
    assert.equal(t.disk.status().low, true);
    assert.ok(t.disk.status().lowSince);
    space.free = 50 * GiB;
    const release = await t.store.admit(u);
    release();
    assert.deepEqual(t.alarms, [true, false], 'the alarm clears when space is back');
    space.free = 10 * GiB + 100;
    assert.equal(await reason(t.store.admit({ ...u, size: 200 })), 'disk_low', 'an upload that would cross the watermark');
  } finally {
    t.done();
  }
});

test('what peers placed here is deleted when its lease ends, unless its sender renewed it or it is kept', async () => {
  const t = await setup(undefined, { peer: 1 << 20, total: 1 << 20 });
  try {
    const now = Date.now();
    const a = randomBytes(100);
    const b = randomBytes(100);
    const c = randomBytes(100);
    await t.put(alice, a, now);
    await t.put(alice, b, now);
    await t.put(bob, c, now);
    t.gate.touch(alice.nodeId, sha256Hex(b), now + 900); // alice's repair probe: b and its manifest live on
    t.gate.touch(bob.nodeId, sha256Hex(a), now + 900); // not bob's: renews nothing
    const cManifest = t.held.get(sha256Hex(c))!.ref;
    const gone = await t.gate.collect(new Set([cManifest]), now + 1500);
    assert.equal(gone.blobs, 2, 'a and its manifest');
    assert.equal(await t.store.has({ sha256: sha256Hex(a), cid: '' }), false);
    assert.equal(await t.store.has({ sha256: sha256Hex(b), cid: '' }), true, 'renewed by its sender');
    assert.equal(await t.store.has({ sha256: sha256Hex(c), cid: '' }), true, 'kept: the latest checkpoint');
    await t.gate.collect(new Set(), now + 2100);
    assert.equal(await t.store.has({ sha256: sha256Hex(b), cid: '' }), false, 'its renewed lease ended too');
  } finally {
    t.done();
  }
});

test('gradients pushed to a leader are deleted once their round is settled, whatever their lease; later ones stay', async () => {
  const t = await setup(undefined, { peer: 1 << 20, total: 1 << 20 });
  try {
    t.gate.expectGradients(() => undefined); // this node leads every round here
    const now = Date.now();
    const push = async (round: number): Promise<string> => {
      const bytes = randomBytes(1000 + round);
      const up: Upload = {
        sender: alice.nodeId,
        sha256: sha256Hex(bytes),
        size: bytes.length,
        purpose: 'gradient',
        round,
        staged: { peer: 0, all: 0 },
      };
      const release = await t.store.admit(up);
      const file = join(t.dir, `grad-${round}`);
      writeFileSync(file, bytes);
      await t.store.accept(up.sha256, file, up);
      t.gate.accepted(up, now);
      release();
      return up.sha256;
    };
    const [r3, r5, r6] = [await push(3), await push(5), await push(6)];
    assert.deepEqual(await t.gate.settleGradients(5), { blobs: 1, bytes: 1003 }, 'round 3 goes: round 5 is settled');
    assert.equal(await t.store.has({ sha256: r3, cid: '' }), false);
    for (const sha of [r5, r6]) assert.equal(await t.store.has({ sha256: sha, cid: '' }), true, 'the settled round and later stay');
    assert.deepEqual(await t.gate.settleGradients(5), { blobs: 0, bytes: 0 }, 'nothing left before round 5');
  } finally {
    t.done();
  }
});
