import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Cluster, type ReadFault } from '../../../test/helpers/cluster-harness.js';

/**
 * k-of-n fetch against faulty holders: 5 storage nodes (2 copies of each shard) and a light reader that holds nothing,
 * so every byte comes over the (in-process) data plane. A 16 MiB blob has 4 MiB shards, read in 1 MiB chunks. The
 * first holder of shard 0 misbehaves after its first chunk.
 */
async function readWith(fault: ReadFault) {
  const c = await Cluster.create(6, { replicas: 2, fetchStallMs: 1000 }, { light: [5] });
  try {
    const blob = randomBytes(16 << 20);
    const put = await c.nodes[0]!.service.put(blob);
    const reader = c.nodes[5]!;
    // The reader ranks holders by the speeds it has seen (reading the manifest is the first): the bad holder is the
    // one it will ask first for shard 0, and it serves every data shard it is asked first for.
    await reader.service.manifest(put.id);
    const first = (idx: number) => reader.access.rank(put.manifest.shards[idx]!.holders)[0]!;
    const bad = first(0);
    const badShards = [0, 1, 2, 3].filter((i) => first(i) === bad).length;
    c.fault(bad, fault);
    const got = await reader.service.get(put.id);
    assert.ok(Buffer.from(got.bytes).equals(blob), 'the blob comes back whole');
    return { fetch: reader.service.lastFetch!, shardSize: put.manifest.shardSize, badShards };
  } finally {
    await c.destroy();
  }
}

test('k-of-n: a holder that stalls mid-shard is dropped and the shard continues from another holder at the same offset', async () => {
  const { fetch, shardSize, badShards } = await readWith('stall');
  assert.equal(fetch.got, 4);
  // At least each shard the stalled holder was serving (a healthy holder slowed by a loaded machine may be dropped too).
  assert.ok((fetch.refusals.stalled ?? 0) >= badShards, `stalled: ${JSON.stringify(fetch.refusals)}, ${badShards} expected`);
  assert.ok(fetch.resumed >= badShards, 'continued, not restarted');
  assert.equal(fetch.bytes, 4 * shardSize, 'every byte received once: nothing fetched twice');
});

test('k-of-n: a holder killed in the middle of a fetch: its shards finish from others without starting over', async () => {
  const { fetch, shardSize } = await readWith('die');
  assert.equal(fetch.got, 4);
  assert.ok((fetch.refusals.failed ?? 0) >= 1, `the dead holder is refused: ${JSON.stringify(fetch.refusals)}`);
  assert.ok(fetch.resumed >= 1);
  assert.equal(fetch.bytes, 4 * shardSize, 'every byte received once');
});

test('k-of-n: a holder that serves wrong bytes is caught by the shard hash, dropped, and the fetch completes', async () => {
  const { fetch, shardSize, badShards } = await readWith('corrupt');
  assert.equal(fetch.got, 4);
  assert.equal(fetch.refusals.corrupt, badShards);
  assert.equal(fetch.bytes, (4 + badShards) * shardSize, 'each poisoned shard fetched again whole from an honest holder');
});
