/**
 * How storage reaches other nodes. The data plane (net part, PutBlob/GetBlob/StatBlob over gRPC) implements
 * ShardTransport; the peer book implements PeerDirectory. Storage codes against these two small interfaces only.
 */
export interface ShardTransport {
  /** Stores the bytes (named by their sha256) on the peer; resolves once the peer holds them verified. */
  put(peer: string, sha256: string, bytes: Uint8Array): Promise<void>;
  /** The bytes the peer holds under sha256 (not yet verified by the caller); undefined when it has none. */
  get(peer: string, sha256: string): Promise<Uint8Array | undefined>;
  /** Whether the peer holds a complete copy. */
  has(peer: string, sha256: string): Promise<boolean>;
}

export interface StoragePeer {
  nodeId: string;
  /** ms since epoch of the last heartbeat heard from the peer; null when none yet. */
  lastHeartbeat: number | null;
  /** Whether its tier and roles let it hold shards. */
  storage: boolean;
}

export interface PeerDirectory {
  peers(): StoragePeer[];
}

/** Storage peers heard from within `staleAfterMs`. */
export function livePeers(dir: PeerDirectory, now: number, staleAfterMs: number): StoragePeer[] {
  return dir.peers().filter((p) => p.storage && p.lastHeartbeat !== null && now - p.lastHeartbeat <= staleAfterMs);
}
