import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wallet } from 'ethers';
import { openStateDb } from '../../daemon/src/db/database.js';
import { identityFromWallet } from '../../daemon/src/identity/identity.js';
import { createLogger } from '../../daemon/src/log/logger.js';
import { Metrics } from '../../daemon/src/metrics/metrics.js';
import type { Upload } from '../../daemon/src/net/blob-backend.js';
import { MagnetError } from '../../daemon/src/util/errors.js';
import type { RetentionSource } from '../../daemon/src/storage/maintenance.js';
import { type StorageOptions, storageSchemaDefaults } from '../../daemon/src/storage/options.js';
import { StoragePart } from '../../daemon/src/storage/part.js';
import { storageMigrations } from '../../daemon/src/storage/storage-repo.js';
import { type PeerDirectory, type ShardTransport, type StoragePeer, sourceSize } from '../../daemon/src/storage/transport.js';

/**
 * Several storage parts in one process for tests. The gRPC data plane is the net part's and is tested there and
 * in the multi-process e2e test; here peers reach each other's real embedded stores through the same BlobBackend
 * calls the data plane makes (admit an upload, stat, read from 0, accept a verified file, touch on a presence
 * probe), so no bytes are checked on the way that the real transport would not check either. A "killed" node refuses every call, like a dead process.
 */
export type ReadFault = 'stall' | 'die' | 'corrupt';

export class Cluster {
  readonly nodes: StoragePart[] = [];
  private readonly alive = new Map<string, boolean>();
  private readonly heartbeat = new Map<string, number>();
  /** Faults a node shows when its copies are read (see `fault`). */
  private readonly faults = new Map<string, ReadFault>();
  /** Whether each node's tier lets it hold shards (false: a light node). */
  private readonly stores = new Map<string, boolean>();
  private readonly dirs: string[] = [];

  /**
   * `light`: indices of nodes whose tier does not store shards (they still put and get blobs); `retention`: what GC
   * keeps, for every node (none by default).
   */
  static async create(
    n: number,
    options: Partial<StorageOptions> = {},
    extra: { light?: number[]; retention?: RetentionSource } = {},
  ): Promise<Cluster> {
    const c = new Cluster();
    for (let i = 0; i < n; i++) await c.add(options, !extra.light?.includes(i), extra.retention);
    return c;
  }

  async add(options: Partial<StorageOptions> = {}, stores = true, retention?: RetentionSource): Promise<StoragePart> {
    const dir = mkdtempSync(join(tmpdir(), 'magnet-cluster-'));
    this.dirs.push(dir);
    const identity = identityFromWallet(new Wallet(Wallet.createRandom().privateKey));
    const { db } = openStateDb(join(dir, 'state.db'), storageMigrations);
    const part = new StoragePart({
      options: { ...storageSchemaDefaults(), repairIntervalMs: 3_600_000, ...options },
      dir: join(dir, 'shards'),
      identity,
      db,
      log: createLogger('silent'),
      metrics: new Metrics(),
      transport: this.transport(identity.nodeId),
      peers: this.directory(identity.nodeId),
      selfStores: stores,
      retention,
    });
    await part.start();
    this.nodes.push(part);
    this.alive.set(identity.nodeId, true);
    this.stores.set(identity.nodeId, stores);
    this.heartbeat.set(identity.nodeId, Date.now());
    return part;
  }

  id(i: number): string {
    return this.nodes[i]!.service.self;
  }

  node(id: string): StoragePart {
    return this.nodes.find((n) => n.service.self === id)!;
  }

  /**
   * How `id` serves reads of its copies from now on: `stall` sends the first 1 MiB chunk then nothing more; `die`
   * sends the first chunk then is killed; `corrupt` flips a bit of every chunk. Each holds for every read.
   */
  fault(id: string, f: ReadFault): void {
    this.faults.set(id, f);
  }

  /** Dead: refuses calls at once; its heartbeat stops (stale after staleAfterMs). */
  kill(id: string, staleNow = true): void {
    this.alive.set(id, false);
    if (staleNow) this.heartbeat.set(id, 0);
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes) await n.stop();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }

  private target(peer: string): StoragePart {
    if (!this.alive.get(peer)) throw new MagnetError('ERR_RPC', `${peer} is unreachable`);
    return this.node(peer);
  }

  /** The data plane as `sender` uses it: uploads go through the receiver's admission (placement, quotas, disk). */
  private transport(sender: string): ShardTransport {
    const target = (peer: string) => this.target(peer);
    const kill = (peer: string) => this.kill(peer);
    const faults = this.faults;
    return {
      put: async (peer, sha256, src, placement) => {
        const store = this.target(peer).local;
        const u: Upload = { sender, sha256, size: sourceSize(src), ...placement, staged: { peer: 0, all: 0 } };
        const release = await store.admit(u);
        try {
          if (await store.stat(sha256)) return;
          const staged = join(store.dir, 'tmp', `incoming-${randomBytes(4).toString('hex')}`);
          if (src instanceof Uint8Array) writeFileSync(staged, src);
          else copyFileSync(src.file, staged);
          await store.accept(sha256, staged, u);
        } finally {
          release();
        }
      },
      get: async (peer, sha256, maxBytes) => {
        const store = this.target(peer).local;
        const st = await store.stat(sha256);
        if (!st) return undefined;
        if (st.size > maxBytes)
          throw new MagnetError('ERR_BLOB_TOO_LARGE', `${peer} announces ${st.size} bytes; at most ${maxBytes} expected`);
        const parts: Uint8Array[] = [];
        for await (const c of store.read(sha256, 0)) parts.push(c);
        return Buffer.concat(parts);
      },
      read: async function* (this: void, peer, sha256, offset, maxBytes, signal) {
        const store = target(peer).local;
        const st = await store.stat(sha256);
        if (!st) throw new MagnetError('ERR_SHARD_MISSING', `${peer} has no ${sha256}`);
        if (st.size > maxBytes)
          throw new MagnetError('ERR_BLOB_TOO_LARGE', `${peer} announces ${st.size} bytes; at most ${maxBytes} expected`);
        let sent = 0;
        for await (const c of store.read(sha256, offset)) {
          target(peer); // killed mid-stream: the next chunk never comes
          const f = faults.get(peer);
          if (sent > 0 && f === 'stall') {
            await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
            throw new MagnetError('ERR_RPC', `read from ${peer} cancelled`);
          }
          if (sent > 0 && f === 'die') {
            kill(peer);
            target(peer);
          }
          const out = f === 'corrupt' ? Uint8Array.from(c, (b, i) => (i === 0 ? b ^ 1 : b)) : c;
          sent += out.length;
          yield out;
        }
      },
      has: async (peer, sha256) => {
        const store = this.target(peer).local;
        const present = (await store.stat(sha256)) !== undefined;
        if (present) store.touch(sender, sha256);
        return present;
      },
      // The data plane authenticates the caller; here the sender is who this transport belongs to.
      release: async (peer, manifestId) => this.target(peer).local.release(sender, manifestId),
    };
  }

  private directory(self: string): PeerDirectory {
    return {
      peers: (): StoragePeer[] =>
        this.nodes
          .map((n) => n.service.self)
          .filter((id) => id !== self)
          .map((id) => ({ nodeId: id, lastHeartbeat: this.heartbeat.get(id) ?? null, storage: this.stores.get(id) ?? true })),
    };
  }
}
