/**
 * Repair priorities, most urgent first. `lost`: fewer than K shards reachable now (kept, retried each round).
 * `degraded`: every shard has as many copies as the live storage holders allow, fewer than storage.replicas; the
 * repair loop adds copies as soon as more holders are live (the blob then classifies `normal`).
 */
export const PRIORITIES = ['lost', 'critical', 'high', 'normal', 'degraded', 'healthy'] as const;
export type Priority = (typeof PRIORITIES)[number];

export interface ShardHealth {
  idx: number;
  liveHolders: string[];
}

export interface BlobHealth {
  priority: Priority;
  /** Shards with at least one live copy. */
  liveShards: number;
  /** Copies each shard should have now: the replica target, capped by the holders there are. */
  target: number;
  /** storage.replicas: the copies each shard should have when enough holders are live. */
  replicas: number;
  /** The fewest live copies of any shard. */
  minCopies: number;
}

/**
 * critical: only K shards live (one more loss and the blob is gone); high: below K+M; normal: every shard
 * present but some below the replica target; degraded: at the target, which too few holders cap below replicas;
 * healthy otherwise.
 */
export function classify(shards: ShardHealth[], k: number, m: number, replicas: number, candidates: number): BlobHealth {
  const liveShards = shards.filter((s) => s.liveHolders.length > 0).length;
  const target = Math.max(1, Math.min(replicas, candidates));
  let priority: Priority;
  if (liveShards < k) priority = 'lost';
  else if (liveShards === k) priority = 'critical';
  else if (liveShards < k + m) priority = 'high';
  else if (shards.some((s) => s.liveHolders.length < target)) priority = 'normal';
  else if (shards.some((s) => s.liveHolders.length < replicas)) priority = 'degraded';
  else priority = 'healthy';
  const minCopies = shards.length === 0 ? 0 : Math.min(...shards.map((s) => s.liveHolders.length));
  return { priority, liveShards, target, replicas, minCopies };
}

/** Copies wanted of each shard of a blob of `kind`: pseudo-gradients have their own, lower target. */
export function replicasOf(kind: string, opts: { replicas: number; gradientReplicas: number }): number {
  return kind === 'gradient' ? opts.gradientReplicas : opts.replicas;
}
