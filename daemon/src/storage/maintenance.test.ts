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
    const retention = { currentRound: () => 20, latest: () => latest, claimed: () => [claimed] };
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
    { replicas: 2, gcKeepRounds: 3 },
    { retention: { currentRound: () => 10, latest: () => latest, claimed: () => claimed } },
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
    // The peer holds shards and manifests of every blob for the owner, under their leases.
    const peer = (await c.nodes[1]!.gcNow()).bytes.heldForPeersByPurpose as Record<string, { blobs: number; bytes: number }>;
    assert.ok((peer.shard?.blobs ?? 0) >= 4 * 6 - 6, `shards held for the owner: ${JSON.stringify(peer)}`);
    assert.ok((peer.manifest?.blobs ?? 0) >= 4, `manifests held for the owner: ${JSON.stringify(peer)}`);
  } finally {
    await c.destroy();
  }
});
