import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { isMagnetError } from '../util/errors.js';
import { Cluster } from '../../../test/helpers/cluster-harness.js';

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

test('put places every shard on distinct holders; another node rebuilds the same bytes', async () => {
  const c = await Cluster.create(4, { replicas: 3 });
  try {
    const blob = randomBytes(3 * (1 << 20) + 17);
    const put = await c.nodes[0]!.service.put(blob, 'checkpoint');
    for (const s of put.manifest.shards) {
      assert.equal(s.holders.length, 3);
      assert.equal(new Set(s.holders).size, 3, 'copies of one shard on distinct holders');
    }
    const got = await c.nodes[2]!.service.get(put.id);
    assert.ok(same(got.bytes, blob));
    assert.equal(got.manifest.creator.nodeId, c.id(0));
  } finally {
    await c.destroy();
  }
});

test('two holders killed: get still works and one repair round restores the replica target on the live holders', async () => {
  const c = await Cluster.create(4, { replicas: 3 });
  try {
    const blob = randomBytes(2 << 20);
    const put = await c.nodes[0]!.service.put(blob);
    c.kill(c.id(1));
    c.kill(c.id(3));
    assert.ok(same((await c.nodes[2]!.service.get(put.id)).bytes, blob));
    const before = await c.nodes[0]!.repairer.assess(c.nodes[0]!.repo.blob(put.id)!);
    assert.notEqual(before.health.priority, 'healthy');
    const report = await c.nodes[0]!.repairer.round();
    assert.deepEqual(report.errors, []);
    const after = await c.nodes[0]!.repairer.assess(c.nodes[0]!.repo.blob(put.id)!);
    // Every shard on both live holders: as many copies as there are holders, fewer than the 3 wanted.
    assert.equal(after.health.priority, 'degraded');
    assert.equal(after.health.target, 2); // 2 live holders left
    assert.equal(after.health.replicas, 3);
    assert.equal(after.health.minCopies, 2);
    for (const s of after.shards) assert.deepEqual([...s.liveHolders].sort(), [c.id(0), c.id(2)].sort());
  } finally {
    await c.destroy();
  }
});

test('shards with no copy left are rebuilt by Reed-Solomon from any K and placed on live holders', async () => {
  const c = await Cluster.create(7, { replicas: 1 });
  try {
    const blob = randomBytes(1 << 20);
    const owner = c.nodes[0]!;
    const put = await owner.service.put(blob);
    const peersHolding = [...new Set(put.manifest.shards.flatMap((s) => s.holders))].filter((h) => h !== owner.service.self);
    c.kill(peersHolding[0]!);
    c.kill(peersHolding[1]!);
    const before = await owner.repairer.assess(owner.repo.blob(put.id)!);
    assert.equal(before.health.priority, 'critical'); // only K live: one more loss and the blob is gone
    assert.equal(before.health.liveShards, 4);
    const report = await owner.repairer.round();
    assert.equal(report.shardsRebuilt, 2);
    const after = await owner.repairer.assess(owner.repo.blob(put.id)!);
    assert.equal(after.health.priority, 'healthy');
    // The rebuilt shards are the original bytes: their holders serve them under the manifest's sha256.
    for (const s of put.manifest.shards) {
      const holder = after.shards[s.index]!.liveHolders[0]!;
      const r = await owner.access.fetch(holder, s, put.manifest.shardSize);
      assert.ok('bytes' in r, `shard ${s.index} readable and hash-checked at ${holder}`);
    }
    assert.ok(same((await c.nodes[6]!.service.get(put.id)).bytes, blob));
  } finally {
    await c.destroy();
  }
});

test('a flipped bit in a shard is detected, ignored by get, scrubbed and repaired', async () => {
  const c = await Cluster.create(4, { replicas: 2 });
  try {
    const blob = randomBytes(512 * 1024);
    const owner = c.nodes[0]!;
    const put = await owner.service.put(blob);
    const shard = put.manifest.shards.find((s) => s.holders.some((h) => h !== owner.service.self))!;
    const holder = c.node(shard.holders.find((h) => h !== owner.service.self)!);
    const file = holder.local.pathOf(shard.sha256);
    const bytes = readFileSync(file);
    bytes[1234]! ^= 0x10;
    writeFileSync(file, bytes);
    // The reader is neither owner nor holder: a holder reading its own copy would move it aside before the scrub.
    const reader = c.nodes.find((n) => n !== owner && n !== holder)!;
    assert.ok(same((await reader.service.get(put.id)).bytes, blob));
    const scrub = await holder['scrubber'].round(1 << 30);
    assert.deepEqual(scrub.corrupt, [shard.sha256]);
    const report = await owner.repairer.round();
    assert.ok(report.copiesPlaced >= 1);
    const after = await owner.repairer.assess(owner.repo.blob(put.id)!);
    assert.equal(after.health.priority, 'healthy');
    assert.ok(
      'bytes' in (await owner.access.fetch(holder.service.self, shard, put.manifest.shardSize)) ||
        after.shards[shard.index]!.liveHolders.length === 2,
    );
  } finally {
    await c.destroy();
  }
});

test('a holder that dies before its heartbeat goes stale: the shard goes elsewhere', async () => {
  const c = await Cluster.create(4, { replicas: 2 });
  try {
    c.kill(c.id(2), false); // still looks live to the directory, refuses every transfer
    const put = await c.nodes[0]!.service.put(randomBytes(100_000));
    for (const s of put.manifest.shards) {
      assert.equal(s.holders.length, 2);
      assert.ok(!s.holders.includes(c.id(2)));
    }
  } finally {
    await c.destroy();
  }
});

test('a forged manifest (re-signed by nobody, or by another key) is refused; tampered copies are ignored', async () => {
  const c = await Cluster.create(2, { replicas: 2 });
  try {
    const put = await c.nodes[0]!.service.put(randomBytes(1000));
    await assert.rejects(c.nodes[1]!.service.get('zz'), (e) => isMagnetError(e, 'ERR_BAD_ID'));
    await assert.rejects(c.nodes[1]!.service.get('0'.repeat(64)), (e) => isMagnetError(e, 'ERR_BLOB_NOT_FOUND'));
    // Same signature, changed content, stored under the sha256 of the new bytes: the signature no longer fits.
    const original = readFileSync(c.nodes[0]!.local.pathOf(put.id), 'utf8');
    const forged = original.replace('"kind":"blob"', '"kind":"evil"');
    const ref = await c.nodes[1]!.local.put(Buffer.from(forged));
    await assert.rejects(c.nodes[1]!.service.get(ref.sha256), (e) => isMagnetError(e, 'ERR_MANIFEST_SIGNATURE'));
    // Tampered bytes under the original id fail their hash check everywhere and are never used.
    for (const n of c.nodes) writeFileSync(n.local.pathOf(put.id), forged);
    await assert.rejects(c.nodes[1]!.service.get(put.id), (e) => isMagnetError(e, 'ERR_BLOB_NOT_FOUND'));
  } finally {
    await c.destroy();
  }
});

const holdsAny = (c: Cluster, node: number, shas: string[]) =>
  Promise.all(shas.map((sha) => c.nodes[node]!.local.stat(sha))).then((st) => st.some((x) => x !== undefined));

test('mixed tiers: a light node puts on storage peers only, says the redundancy it reached, and the blob outlives its creator', async () => {
  // Nodes 0 and 3 are light, 1 and 2 store; 3 copies of each shard are wanted, 2 storage holders are live.
  const c = await Cluster.create(4, { replicas: 3 }, { light: [0, 3] });
  try {
    const blob = randomBytes((1 << 20) + 5);
    const put = await c.nodes[0]!.service.put(blob, 'checkpoint');
    for (const s of put.manifest.shards) assert.deepEqual([...s.holders].sort(), [c.id(1), c.id(2)].sort(), `shard ${s.index}`);
    const shas = put.manifest.shards.map((s) => s.sha256);
    assert.equal(await holdsAny(c, 0, shas), false, 'the light creator keeps no shard of its own blob');
    assert.deepEqual(
      {
        target: put.redundancy.target,
        reached: put.redundancy.reached,
        holders: put.redundancy.holders,
        degraded: put.redundancy.degraded,
      },
      { target: 3, reached: 2, holders: 2, degraded: true },
    );
    assert.match(put.redundancy.note ?? '', /2 storage holders are live, 3 copies of each shard are wanted; repair adds copies/);
    const health = await c.nodes[0]!.repairer.assess(c.nodes[0]!.repo.blob(put.id)!);
    assert.equal(health.health.priority, 'degraded');
    // The creator and one storage holder die; the other light node still reads the blob (manifest and shards on 2).
    c.kill(c.id(0));
    c.kill(c.id(1));
    assert.ok(same((await c.nodes[3]!.service.get(put.id)).bytes, blob));
  } finally {
    await c.destroy();
  }
});

test('no storage peer live: a light node keeps its blob itself, says so, and a light reader finds the manifest on it', async () => {
  const c = await Cluster.create(2, { replicas: 3 }, { light: [0, 1] });
  try {
    const blob = randomBytes(70_000);
    const put = await c.nodes[0]!.service.put(blob);
    assert.ok(put.manifest.shards.every((s) => s.holders.length === 1 && s.holders[0] === c.id(0)));
    assert.equal(put.redundancy.degraded, true);
    assert.match(put.redundancy.note ?? '', /no storage holder is live: every shard is kept on this node only/);
    // Node 1 is light too: it asks every live peer, not only storage ones, for the manifest and the shards.
    assert.ok(same((await c.nodes[1]!.service.get(put.id)).bytes, blob));
  } finally {
    await c.destroy();
  }
});

test('a put below the replica target is completed by repair when storage holders join', async () => {
  const c = await Cluster.create(2, { replicas: 3 });
  try {
    const owner = c.nodes[0]!;
    const put = await owner.service.put(randomBytes(300_000));
    assert.equal(put.redundancy.reached, 2);
    assert.equal(put.redundancy.degraded, true);
    assert.equal((await owner.repairer.round()).copiesPlaced, 0, 'nothing to do while only 2 holders are live');
    await c.add({ replicas: 3 });
    const report = await owner.repairer.round();
    assert.deepEqual(report.errors, []);
    assert.equal(report.copiesPlaced, 6, 'one new copy of each of the 6 shards');
    const after = await owner.repairer.assess(owner.repo.blob(put.id)!);
    assert.equal(after.health.priority, 'healthy');
    assert.equal(after.health.minCopies, 3);
  } finally {
    await c.destroy();
  }
});

test('a pseudo-gradient is stored with storage.gradientReplicas copies (1): Reed-Solomon alone guards it, and repair leaves it so', async () => {
  const c = await Cluster.create(4, { replicas: 3 });
  try {
    const owner = c.nodes[0]!;
    const put = await owner.service.put(randomBytes(200_000), 'gradient', 3);
    for (const s of put.manifest.shards) assert.equal(s.holders.length, 1, `shard ${s.index}: one copy`);
    assert.equal(new Set(put.manifest.shards.flatMap((s) => s.holders)).size, 4, 'spread over the 4 holders');
    assert.deepEqual([put.redundancy.target, put.redundancy.reached, put.redundancy.degraded], [1, 1, false]);
    assert.equal((await owner.repairer.round()).copiesPlaced, 0);
    assert.equal((await owner.repairer.assess(owner.repo.blob(put.id)!)).health.priority, 'healthy');
    // A checkpoint on the same nodes still gets 3 copies of each shard.
    const ckpt = await owner.service.put(randomBytes(200_000), 'checkpoint', 3);
    for (const s of ckpt.manifest.shards) assert.equal(s.holders.length, 3);
  } finally {
    await c.destroy();
  }
});
