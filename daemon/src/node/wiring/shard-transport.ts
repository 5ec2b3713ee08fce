import * as grpc from '@grpc/grpc-js';
import type { Placement } from '../../net/blob-backend.js';
import type { PeerClient } from '../../net/client.js';
import type { NetPeer } from '../../net/peer-table.js';
import { MagnetError } from '../../util/errors.js';
import { type PeerDirectory, type ShardSource, type ShardTransport, sourceSize } from '../../storage/transport.js';

/** What storage needs of the peers: who is live, and a signed client to each. */
export interface NetAccess {
  peers(): NetPeer[];
  client(nodeId: string): PeerClient;
}

/** Shards over the net part's gRPC data plane (PutBlob, GetBlob, StatBlob: signed, TLS-pinned). */
export class NetShardTransport implements ShardTransport {
  constructor(private readonly net: NetAccess) {}

  async put(peer: string, sha256: string, src: ShardSource, placement: Placement): Promise<void> {
    const size = sourceSize(src);
    // A file streams from disk chunk by chunk (never held whole).
    const res = await this.net
      .client(peer)
      .putBlob(src instanceof Uint8Array ? { data: src, sha256, size } : { file: src.file, sha256, size }, placement);
    if (res.sha256 !== sha256 || Number(res.size) !== size)
      throw new MagnetError('ERR_STORAGE_PLACE', `${peer} acknowledged ${res.sha256} (${res.size} bytes), not ${sha256}`);
  }

  /** Buffers at most `maxBytes` (the expected size): a peer announcing or streaming more is cut off there. */
  async get(peer: string, sha256: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const parts: Buffer[] = [];
    try {
      const { chunks } = this.net.client(peer).getBlob(sha256, 0, maxBytes);
      for await (const c of chunks) parts.push(c);
    } catch (err) {
      if ((err as { status?: number }).status === grpc.status.NOT_FOUND) return undefined;
      throw err;
    }
    return Buffer.concat(parts);
  }

  async *read(peer: string, sha256: string, offset: number, maxBytes: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    const { chunks, cancel } = this.net.client(peer).getBlob(sha256, offset, maxBytes);
    signal.addEventListener('abort', cancel, { once: true });
    try {
      yield* chunks;
    } catch (err) {
      if ((err as { status?: number }).status === grpc.status.NOT_FOUND)
        throw new MagnetError('ERR_SHARD_MISSING', `${peer} has no ${sha256}`);
      throw err;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }

  async has(peer: string, sha256: string): Promise<boolean> {
    return (await this.net.client(peer).statBlob(sha256)).present;
  }

  release(peer: string, manifestId: string): Promise<{ released: number; bytes: number; kept: number }> {
    return this.net.client(peer).releaseBlob(manifestId);
  }
}

/**
 * Storage-tier members from the net part's live peer list (it drops peers without heartbeat for staleSeconds):
 * a shard is only ever placed on a member, whatever role a stranger declares.
 */
export function netPeerDirectory(net: NetAccess): PeerDirectory {
  return {
    peers: () =>
      // A peer net marked down counts as silent at once (no heartbeat), whatever its last heartbeat was.
      net.peers().map((p) => ({
        nodeId: p.nodeId,
        lastHeartbeat: p.state === 'live' ? p.lastHeartbeat : null,
        storage: p.member && p.roles.includes('storage'),
      })),
  };
}
