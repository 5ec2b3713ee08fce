import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createLogger } from '../log/logger.js';
import { Cluster } from '../../../test/helpers/cluster-harness.js';
import { collectGarbage } from './maintenance.js';

test('GC unpins blobs older than gcKeepRounds, except the latest checkpoint and claimed blobs', async () => {
  const c = await Cluster.create(1, { replicas: 1 });
  try {
    const node = c.nodes[0]!;
    const put = async (round: number) => (await node.service.put(randomBytes(50_000), 'checkpoint', round)).id;
    const latest = await put(1); // old, but the latest checkpoint
    const claimed = await put(2); // old, but a pending claim refers to it
    const old = await put(3); // old: collected
    const recent = await put(15); // inside the window: kept
    const retention = { currentRound: () => 20, latest: () => latest, claimed: () => [claimed], settledRound: () => -1 };
    const collected = await collectGarbage(retention, 10, node.repo, node.service.self, node.local, undefined, createLogger('silent'));
    assert.deepEqual(collected, [old]);
    assert.equal(node.repo.blob(old)!.state, 'collected');
    for (const s of node.repo.shards(old)) assert.equal(await node.local.has(s), false, `shard ${s.idx} of the old blob unpinned`);
    for (const id of [latest, claimed, recent]) {
      assert.equal(node.repo.blob(id)!.state, 'active');
      assert.ok((await node.service.get(id)).bytes.length === 50_000, 'kept blobs still read back');
    }
    assert.ok(await node.local.has({ sha256: old, cid: '' }), 'the manifest of a collected blob stays');
    // A second pass has nothing left to do; the repair loop no longer looks at collected blobs.
    assert.deepEqual(await collectGarbage(retention, 10, node.repo, node.service.self, node.local, undefined, createLogger('silent')), []);
    assert.ok(!node.repo.ownedActive(node.service.self).some((b) => b.manifestId === old));
  } finally {
    await c.destroy();
  }
});

test('gc now: old rounds of own blobs are unpinned (latest and claimed stay), and the bytes kept are reported by kind and purpose', async () => {
  let latest: string | undefined;
  const claimed: string[] = [];
  const c = await Cluster.create(
    2,
    { replicas: 2, gradientReplicas: 2, gcKeepRounds: 3 },
    { retention: { currentRound: () => 10, latest: () => latest, claimed: () => claimed, settledRound: () => -1 } },
  );
  try {
    const owner = c.nodes[0]!;
    const old = await owner.put(randomBytes(40_000), 'checkpoint', 2);
    const oldLatest = await owner.put(randomBytes(40_001), 'checkpoint', 3);
    const oldClaimed = await owner.put(randomBytes(30_000), 'gradient', 4);
    const recent = await owner.put(randomBytes(50_000), 'gradient', 9);
    latest = oldLatest.id;
    claimed.push(oldClaimed.id);
    const r = await owner.gcNow();
    assert.deepEqual(r.collected, [old.id], 'only the old checkpoint that nothing refers to goes');
    assert.deepEqual(r.bytes.ownedByKind, { checkpoint: { blobs: 1, bytes: 40_001 }, gradient: { blobs: 2, bytes: 80_000 } });
    for (const s of old.manifest.shards)
      assert.equal(await owner.local.stat(s.sha256), undefined, `shard ${s.index} of the old blob unpinned here`);
    assert.equal((await c.nodes[1]!.get(recent.id)).bytes.length, 50_000, 'a recent blob still reads');
    // The peer was told to release the collected blob (ReleaseBlob): it keeps the 6 shards and the manifest of each other one.
    const peer = (await c.nodes[1]!.gcNow()).bytes.heldForPeersByPurpose as Record<string, { blobs: number; bytes: number }>;
    assert.equal(peer.shard?.blobs, 3 * 6, `shards held for the owner: ${JSON.stringify(peer)}`);
    assert.equal(peer.manifest?.blobs, 3, `manifests held for the owner: ${JSON.stringify(peer)}`);
    for (const s of old.manifest.shards)
      assert.equal(await c.nodes[1]!.local.stat(s.sha256), undefined, `shard ${s.index} released at the peer`);
  } finally {
    await c.destroy();
  }
});

test('ReleaseBlob: only the sender that placed a blob may release it; what the network still needs stays', async () => {
  let latest: string | undefined;
  const c = await Cluster.create(
    3,
    { replicas: 3 },
    { retention: { currentRound: () => 0, latest: () => latest, claimed: () => [], settledRound: () => -1 } },
  );
  try {
    const [owner, holder, other] = [c.nodes[0]!, c.nodes[1]!, c.nodes[2]!];
    const put = await owner.put(randomBytes(60_000), 'checkpoint', 0);
    const kept = await owner.put(randomBytes(60_001), 'checkpoint', 0);
    latest = kept.id;
    // Another member asks the holder to delete the owner's blob: refused by name, nothing deleted.
    await assert.rejects(holder.local.release(other.service.self, put.id), (err: Error & { reason?: string }) => {
      assert.equal(err.reason, 'not_owner');
      assert.match(err.message, new RegExp(`placed here by ${owner.service.self}, not ${other.service.self}`));
      return true;
    });
    for (const s of put.manifest.shards) assert.ok(await holder.local.stat(s.sha256), `shard ${s.index} still held`);
    await assert.rejects(
      holder.local.release(owner.service.self, 'ab'.repeat(32)),
      (err: Error & { reason?: string }) => err.reason === 'not_found',
    );
    // The owner's release goes through: the manifest and its 6 shards.
    assert.deepEqual(await holder.local.release(owner.service.self, put.id), {
      released: 7,
      bytes: put.manifest.shardSize * 6 + (await owner.local.get({ sha256: put.id, cid: '' }))!.length,
      kept: 0,
    });
    for (const s of put.manifest.shards) assert.equal(await holder.local.stat(s.sha256), undefined, `shard ${s.index} deleted`);
    // The latest checkpoint stays, even at its owner's word.
    assert.deepEqual(await holder.local.release(owner.service.self, kept.id), { released: 0, bytes: 0, kept: 7 });
    assert.ok(await holder.local.stat(kept.manifest.shards[0]!.sha256));
  } finally {
    await c.destroy();
  }
});
