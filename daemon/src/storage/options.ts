import { int, str } from '../config/schema.js';

export const storageOptions = {
  ipfsApi: str('', 'kubo RPC API (URL like http://127.0.0.1:5001 or multiaddr); empty = no kubo, shards stay in the embedded store and on peers', { env: 'MAGNET_IPFS_API' }),
  dataShards: int(4, 'Reed-Solomon data shards K per blob', { env: 'MAGNET_RS_K', min: 1, max: 128 }),
  parityShards: int(2, 'Reed-Solomon parity shards M per blob (any K of K+M rebuild it)', { env: 'MAGNET_RS_M', min: 1, max: 128 }),
  replicas: int(3, 'copies of each shard kept on distinct holders (the replica target)', { env: 'MAGNET_STORAGE_REPLICAS', min: 1, max: 16 }),
  repairIntervalMs: int(30_000, 'period of the repair loop (health check, scrub, repairs, kubo catch-up, GC), ms', { env: 'MAGNET_REPAIR_INTERVAL_MS', min: 100 }),
  staleAfterMs: int(120_000, 'a holder without heartbeat for this long counts as lost, ms', { env: 'MAGNET_HOLDER_STALE_MS', min: 100 }),
  repairBytesPerSec: int(64 * 1024 * 1024, 'bandwidth cap of repairs (bytes fetched plus bytes placed per second)', { env: 'MAGNET_REPAIR_BYTES_PER_SEC', min: 1024 }),
  scrubBytesPerRound: int(256 * 1024 * 1024, 'local shard bytes re-hashed per repair round (scrub)', { env: 'MAGNET_SCRUB_BYTES_PER_ROUND', min: 0 }),
  gcKeepRounds: int(10, 'blobs older than this many rounds are unpinned (except latest and claimed ones)', { env: 'MAGNET_GC_KEEP_ROUNDS', min: 1 }),
  maxBlobBytes: int(4 * 1024 * 1024 * 1024, 'largest blob accepted by blob put (held in memory while coded)', { env: 'MAGNET_STORAGE_MAX_BLOB_BYTES', min: 1 }),
};

/** The defaults as a config group value (for tests and tools that build a storage part without the loader). */
export function storageSchemaDefaults(): { [K in keyof typeof storageOptions]: (typeof storageOptions)[K]['default'] } {
  return Object.fromEntries(Object.entries(storageOptions).map(([k, f]) => [k, f.default])) as never;
}
