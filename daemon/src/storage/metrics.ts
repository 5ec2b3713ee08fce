import type { Metrics } from '../metrics/metrics.js';

/** The storage part's metrics (one factory, names get the magnet_ prefix). */
export function storageMetrics(m: Metrics) {
  return {
    blobs: m.gauge('storage_blobs', 'Blobs this node owns, by repair priority after the last round', ['priority']),
    repairRounds: m.counter('storage_repair_rounds_total', 'Repair loop rounds run'),
    shardsRebuilt: m.counter('storage_shards_rebuilt_total', 'Shards rebuilt by Reed-Solomon after every copy was lost'),
    copiesPlaced: m.counter('storage_repair_copies_total', 'Shard copies placed on new holders by repairs'),
    repairBytes: m.counter('storage_repair_bytes_total', 'Bytes fetched and placed by repairs'),
    scrubbed: m.counter('storage_scrub_files_total', 'Local files re-hashed by the scrub'),
    corrupt: m.counter('storage_corrupt_shards_total', 'Local files that failed their hash check'),
    kuboUp: m.gauge('storage_kubo_up', '1 when the configured kubo answers, 0 when down (absent without kubo)'),
    kuboPending: m.gauge('storage_kubo_pending', 'Shards waiting to be pinned in kubo when it returns'),
    puts: m.counter('storage_blob_puts_total', 'Blobs stored'),
    gets: m.counter('storage_blob_gets_total', 'Blobs rebuilt', ['result']),
    shardRefusals: m.counter(
      'storage_shard_fetch_refused_total',
      'Shards a holder the manifest names did not give back, by reason (withheld, corrupt, oversize, failed)',
      ['reason'],
    ),
    diskLow: m.gauge(
      'storage_disk_low',
      '1 while the free space under the storage directory is below the low-watermark (uploads from peers refused)',
    ),
    diskFree: m.gauge('storage_disk_free_bytes', 'Free bytes of the filesystem holding the storage directory, at the last check'),
    heldBytes: m.gauge('storage_held_bytes', 'Bytes this node keeps for peers, by purpose (shard, manifest, gradient)', ['purpose']),
    ownedBytes: m.gauge('storage_owned_bytes', 'Bytes of the blobs this node stored and keeps (before coding), by kind', ['kind']),
    gcCollected: m.counter('storage_gc_collected_total', 'Blobs of this node unpinned by garbage collection (old rounds)'),
    heldCollected: m.counter('storage_held_collected_total', 'Blobs kept for peers deleted when their lease ended'),
    putSeconds: m.histogram('storage_blob_put_seconds', 'Time to code and place a blob', [], [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120]),
  };
}
export type StorageMetrics = ReturnType<typeof storageMetrics>;
