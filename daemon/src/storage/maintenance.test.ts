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
