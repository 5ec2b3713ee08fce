import type { Placement } from '../net/blob-backend.js';
import type { ShardFile } from './erasure/file-coding.js';

/** What is sent: bytes in hand (a manifest, a small blob), or a file streamed from disk (a shard of any size). */
export type ShardSource = Uint8Array | ShardFile;

export function sourceSize(src: ShardSource): number {
  return src instanceof Uint8Array ? src.length : src.size;
}

/**
 * How storage reaches other nodes. The data plane (net part, PutBlob/GetBlob/StatBlob over gRPC) implements
 * ShardTransport; the peer book implements PeerDirectory. Storage codes against these two small interfaces only.
 */
export interface ShardTransport {
  /**
   * Stores the bytes or the file (named by their sha256) on the peer under `placement` (a manifest of ours, or a shard of one
   * we sent it first); resolves once the peer holds them verified.
   */
  put(peer: string, sha256: string, src: ShardSource, placement: Placement): Promise<void>;
  /**
   * The bytes the peer holds under sha256 (not yet verified by the caller); undefined when it has none. More than
   * `maxBytes` (the size this node expects) is never read: the transfer is cut off (ERR_BLOB_TOO_LARGE).
   */
  get(peer: string, sha256: string, maxBytes: number): Promise<Uint8Array | undefined>;
  /**
   * The bytes of the peer's copy from `offset` on, as they arrive (a byte range: a fetch that lost its source goes on
   * from another). Throws ERR_SHARD_MISSING when the peer has none and ERR_BLOB_TOO_LARGE when it announces more than
   * `maxBytes`; ends with an error soon after `signal` aborts.
   */
  read(peer: string, sha256: string, offset: number, maxBytes: number, signal: AbortSignal): AsyncIterable<Uint8Array>;
  /** Whether the peer holds a complete copy. */
  has(peer: string, sha256: string): Promise<boolean>;
  /** Lets the peer delete manifest `manifestId` and the shards this node placed under it (ReleaseBlob). */
  release(peer: string, manifestId: string): Promise<{ released: number; bytes: number; kept: number }>;
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

/** Peers of any tier heard from within `staleAfterMs`: where a reader may also find a manifest or a shard. */
export function liveReaders(dir: PeerDirectory, now: number, staleAfterMs: number): StoragePeer[] {
  return dir.peers().filter((p) => p.lastHeartbeat !== null && now - p.lastHeartbeat <= staleAfterMs);
}

/** Storage peers heard from within `staleAfterMs`. */
export function livePeers(dir: PeerDirectory, now: number, staleAfterMs: number): StoragePeer[] {
  return liveReaders(dir, now, staleAfterMs).filter((p) => p.storage);
}
