import { type Values, int, num, str } from '../config/schema.js';

const GiB = 1024 * 1024 * 1024;

export const storageOptions = {
  ipfsApi: str(
    '',
    'kubo RPC API (URL like http://127.0.0.1:5001 or multiaddr); empty = no kubo, shards stay in the embedded store and on peers',
    { env: 'MAGNET_IPFS_API', flag: '--ipfs-api <url>' },
  ),
  dataShards: int(4, 'Reed-Solomon data shards K per blob', { env: 'MAGNET_RS_K', min: 1, max: 128 }),
  parityShards: int(2, 'Reed-Solomon parity shards M per blob (any K of K+M rebuild it)', { env: 'MAGNET_RS_M', min: 1, max: 128 }),
  replicas: int(3, 'copies of each shard kept on distinct holders (the replica target)', {
    env: 'MAGNET_STORAGE_REPLICAS',
    min: 1,
    max: 16,
  }),
  gradientReplicas: int(
    1,
    'copies of each shard of a stored pseudo-gradient: it is pushed to the leader directly and read back at most once (failover, checks), so RS(K,M) alone guards it',
    { env: 'MAGNET_STORAGE_GRADIENT_REPLICAS', min: 1, max: 16 },
  ),
  repairIntervalMs: int(30_000, 'period of the repair loop (health check, scrub, repairs, kubo catch-up, GC), ms', {
    env: 'MAGNET_REPAIR_INTERVAL_MS',
    min: 100,
  }),
  staleAfterMs: int(120_000, 'a holder without heartbeat for this long counts as lost, ms', { env: 'MAGNET_HOLDER_STALE_MS', min: 100 }),
  fetchStallMs: int(15_000, 'a shard source that sends nothing for this long is dropped and the shard continues from another holder, ms', {
    env: 'MAGNET_FETCH_STALL_MS',
    min: 50,
  }),
  repairBytesPerSec: int(64 * 1024 * 1024, 'bandwidth cap of repairs (bytes fetched plus bytes placed per second)', {
    env: 'MAGNET_REPAIR_BYTES_PER_SEC',
    min: 1024,
  }),
  scrubBytesPerRound: int(256 * 1024 * 1024, 'local shard bytes re-hashed per repair round (scrub)', {
    env: 'MAGNET_SCRUB_BYTES_PER_ROUND',
    min: 0,
  }),
  gcKeepRounds: int(10, 'blobs older than this many rounds are unpinned (except latest and claimed ones)', {
    env: 'MAGNET_GC_KEEP_ROUNDS',
    min: 1,
  }),
  maxBlobBytes: int(4 * 1024 * 1024 * 1024, 'largest blob accepted by blob put (coded and sent in windows: memory stays bounded whatever the size)', {
    env: 'MAGNET_STORAGE_MAX_BLOB_BYTES',
    min: 1,
  }),
  peerQuotaBytes: int(
    16 * GiB,
    'most bytes one peer may keep on this node: shards, manifests and gradients it placed here, plus its uploads in flight and partial ones (peer_quota_exceeded beyond)',
    {
      env: 'MAGNET_PEER_QUOTA_BYTES',
      min: 0,
    },
  ),
  totalQuotaBytes: int(128 * GiB, 'most bytes all peers together may keep on this node (quota_exceeded beyond)', {
    env: 'MAGNET_TOTAL_QUOTA_BYTES',
    min: 0,
  }),
  minFreeBytes: int(
    2 * GiB,
    'disk low-watermark: with less free space than this (or than minFreePercent) under the storage directory, uploads from peers are refused (disk_low) and the alarm is raised (/status storage.disk, magnet_storage_disk_low, a warning)',
    {
      env: 'MAGNET_MIN_FREE_BYTES',
      min: 0,
    },
  ),
  minFreePercent: num(5, 'disk low-watermark as a share of the filesystem, in percent; the higher of the two watermarks counts', {
    env: 'MAGNET_MIN_FREE_PERCENT',
    min: 0,
    max: 100,
  }),
  leaseHours: num(
    168,
    'a shard or manifest a peer placed here is deleted this long after its sender last asked about it (its repair loop asks every round, which renews the lease)',
    {
      env: 'MAGNET_HELD_LEASE_HOURS',
      min: 0.001,
    },
  ),
  gradientLeaseHours: num(24, 'a gradient pushed to this node as a round leader is deleted this long after it arrived', {
    env: 'MAGNET_GRADIENT_LEASE_HOURS',
    min: 0.001,
  }),
};

export type StorageOptions = Values<typeof storageOptions>;

/** The defaults as a config group value (for tests and tools that build a storage part without the loader). */
export function storageSchemaDefaults(): StorageOptions {
  return Object.fromEntries(Object.entries(storageOptions).map(([k, f]) => [k, f.default])) as never;
}
