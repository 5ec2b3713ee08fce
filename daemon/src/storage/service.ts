import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { Slots } from '../util/limiters.js';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ShardFile, encodeFile, joinFiles, rebuildFiles } from './erasure/file-coding.js';
import { ReedSolomon } from './erasure/reed-solomon.js';
import { replicasOf } from './health.js';
import { type FetchRefusal, FileSink, type KofNResult, fetchAnyK } from './kofn-fetch.js';
import { MAX_MANIFEST_BYTES, type Manifest, type SignedManifest, signManifest, verifyManifest } from './manifest.js';
import type { ShardAccess } from './shard-access.js';
import type { StorageRepository } from './storage-repo.js';
import type { ContentRef } from './stores/content-store.js';
import type { KuboStore } from './stores/kubo-store.js';
import { type PeerDirectory, type ShardSource, livePeers, liveReaders } from './transport.js';

/**
 * Shard uploads in flight at once: enough to keep several holders busy, few enough that their buffers (4 chunks of
 * 1 MiB each, plus a 1 MiB file read) stay a small fixed amount of memory whatever the blob's size.
 */
const UPLOADS_AT_ONCE = 6;

export interface BlobServiceOptions {
  k: number;
  m: number;
  replicas: number;
  /** Copies of each shard of a blob of kind 'gradient' (storage.gradientReplicas). */
  gradientReplicas: number;
  staleAfterMs: number;
  maxBlobBytes: number;
  /** A shard source silent this long is dropped; the shard goes on from another holder at the same offset. */
  fetchStallMs: number;
  /**
   * Whether this node's tier and roles let it hold shards. A node that may not keeps shards of its own blobs only
   * when no storage peer is live (a network of one), and its put then says so.
   */
  selfStores: boolean;
}

/** What a put reached, against storage.replicas (storage.gradientReplicas for a gradient). */
export interface Redundancy {
  /** storage.replicas (gradientReplicas for a gradient): copies wanted of each shard. */
  target: number;
  /** The fewest copies any shard got. */
  reached: number;
  /** Distinct nodes holding at least one shard. */
  holders: number;
  /** Fewer copies than the target: repair adds them when storage holders appear. */
  degraded: boolean;
  /** Why, in words, when degraded. */
  note?: string;
}

export interface PutResult {
  id: string;
  manifest: Manifest;
  kubo: 'pinned' | 'queued' | 'none';
  redundancy: Redundancy;
}

/**
 * Blob put and get: Reed-Solomon shards placed on distinct holders (this node and live storage peers), pinned in
 * kubo when there is one, described by a signed manifest stored like any other content; get fetches any K
 * verified shards in parallel from the fastest holders and checks the blob hash.
 */
export class BlobService {
  /** Told of every put (seconds taken) and get (whether it succeeded): the part turns these into metrics. */
  observer: { put(seconds: number): void; got(ok: boolean): void; refused(reason: FetchRefusal): void } | undefined;
  /** The last k-of-n fetch's figures (sources switched, bytes received): for tests and benchmarks. */
  lastFetch: KofNResult<FileSink> | undefined;
  /** Shard uploads at once, over every put of this node: each holds a few chunks in memory (UPLOADS_AT_ONCE). */
  private readonly uploads = new Slots(UPLOADS_AT_ONCE);
  /** When each redundancy shortfall was last logged as a warning. */
  private readonly degradedWarnedAt = new Map<string, number>();

  constructor(
    private readonly identity: NodeIdentity,
    private readonly access: ShardAccess,
    private readonly peers: PeerDirectory,
    private readonly repo: StorageRepository,
    private readonly opts: BlobServiceOptions,
    private readonly log: Logger,
    private readonly kubo: () => { store: KuboStore; up: boolean } | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  get self(): string {
    return this.identity.nodeId;
  }

  /**
   * Where shards go: this node first when it stores, then live storage peers by nodeId. A node that does not store
   * is its own last resort, only when no storage peer is live.
   */
  candidates(): string[] {
    const peers = livePeers(this.peers, this.now(), this.opts.staleAfterMs)
      .map((p) => p.nodeId)
      .filter((id) => id !== this.self)
      .sort();
    if (this.opts.selfStores) return [this.self, ...peers];
    return peers.length > 0 ? peers : [this.self];
  }

  /**
   * Where a reader looks for a manifest or a shard: this node, the storage candidates, then every other live peer of
   * any tier (a light creator keeps its blob's manifest; every piece is verified by hash, whoever gives it).
   */
  readers(): string[] {
    const first = [this.self, ...this.candidates()];
    const rest = liveReaders(this.peers, this.now(), this.opts.staleAfterMs)
      .map((p) => p.nodeId)
      .sort();
    return [...new Set([...first, ...rest])];
  }

  /** Stores bytes in hand (written to a work file first: one path, the streaming one, for every blob). */
  async put(blob: Uint8Array, kind = 'blob', round = 0): Promise<PutResult> {
    this.checkSize(blob.length);
    const work = await this.access.local.workDir();
    try {
      const file = join(work, 'blob');
      await writeFile(file, blob);
      return await this.putFile(file, kind, round);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Stores the file `src` (left in place): coded window by window into shard files (erasure/file-coding.ts), which are
   * streamed to their holders, so memory stays bounded whatever the blob's size.
   */
  async putFile(src: string, kind = 'blob', round = 0): Promise<PutResult> {
    const t0 = performance.now();
    this.checkSize((await stat(src)).size);
    const work = await this.access.local.workDir();
    try {
      const coded = await encodeFile(new ReedSolomon(this.opts.k, this.opts.m), src, work);
      const result = await this.place(coded.blob, coded.shardSize, coded.shards, kind, round);
      this.observer?.put((performance.now() - t0) / 1000);
      return result;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private checkSize(size: number): void {
    if (size > this.opts.maxBlobBytes)
      throw new MagnetError('ERR_BLOB_TOO_LARGE', `blob of ${size} bytes exceeds storage.maxBlobBytes (${this.opts.maxBlobBytes})`);
  }

  private async place(
    blob: { sha256: string; size: number },
    shardSize: number,
    shards: (ShardFile & { ref: ContentRef })[],
    kind: string,
    round: number,
  ): Promise<PutResult> {
    const { k, m } = this.opts;
    const refs = shards.map((s) => s.ref);
    const candidates = this.candidates();
    const want = Math.min(replicasOf(kind, this.opts), candidates.length);
    const start = parseInt(blob.sha256.slice(0, 8), 16) % candidates.length; // spreads blobs over holders
    const orders = shards.map((_, i) => rotate(candidates, (start + i) % candidates.length));
    const manifestOf = (holders: string[][]): Manifest => ({
      version: 1,
      kind,
      blob,
      k,
      m,
      shardSize,
      shards: refs.map((r, i) => ({ index: i, sha256: r.sha256, cid: r.cid, holders: holders[i]! })),
      createdAt: this.now(),
      creator: { nodeId: this.identity.nodeId, address: this.identity.address, publicKey: this.identity.publicKey },
    });
    // The signed manifest first: a holder takes a shard only from the creator of a manifest it holds that lists it.
    const planned = manifestOf(orders.map((o) => o.slice(0, want)));
    const plannedSigned = signManifest(planned, this.identity);
    const plannedRef = await this.spreadManifest(plannedSigned.bytes, candidates);
    const holders = await Promise.all(shards.map((file, i) => this.placeCopies(refs[i]!, file, want, orders[i]!, plannedSigned.id)));
    holders.forEach((h, i) => {
      if (h.length === 0) throw new MagnetError('ERR_STORAGE_PLACE', `no holder accepted shard ${i} of the blob`, { shard: i });
    });
    // A holder that failed was replaced by the next in its order: the manifest kept says where the shards are.
    const same = holders.every((h, i) => [...h].sort().join() === [...planned.shards[i]!.holders].sort().join());
    const manifest = same ? planned : { ...planned, shards: planned.shards.map((s, i) => ({ ...s, holders: holders[i]! })) };
    const { bytes: mBytes, id } = same ? plannedSigned : signManifest(manifest, this.identity);
    const mRef = same ? plannedRef : await this.spreadManifest(mBytes, candidates);
    this.repo.addBlob(id, manifest, round, this.self);
    const kuboState = await this.pinInKubo(id, [...shards.map((s) => ({ ref: s.ref, src: s })), { ref: mRef, src: mBytes }]);
    const redundancy = this.redundancyOf(manifest, candidates, replicasOf(kind, this.opts));
    // A shortfall is a warning once an hour per reason (a network of one has it on every put), info otherwise.
    const warn = redundancy.degraded && this.now() - (this.degradedWarnedAt.get(redundancy.note ?? '') ?? -Infinity) >= 3_600_000;
    if (warn) this.degradedWarnedAt.set(redundancy.note ?? '', this.now());
    this.log[warn ? 'warn' : 'info'](
      { id, size: blob.size, k, m, holders: manifest.shards.map((s) => s.holders.length), kubo: kuboState, redundancy },
      redundancy.degraded ? `blob stored below its redundancy target: ${redundancy.note}` : 'blob stored',
    );
    return { id, manifest, kubo: kuboState, redundancy };
  }

  private redundancyOf(manifest: Manifest, candidates: string[], target: number): Redundancy {
    const reached = Math.min(...manifest.shards.map((s) => s.holders.length));
    const holders = new Set(manifest.shards.flatMap((s) => s.holders)).size;
    if (reached >= target) return { target, reached, holders, degraded: false };
    const storing = candidates.filter((c) => c !== this.self || this.opts.selfStores).length;
    const note =
      storing === 0
        ? `no storage holder is live: every shard is kept on this node only, which is not a storage node`
        : storing < target
          ? `${storing} storage holder${storing === 1 ? ' is' : 's are'} live, ${target} copies of each shard are wanted`
          : `holders refused shards: ${reached} of ${target} copies placed for the worst shard`;
    return { target, reached, holders, degraded: true, note: `${note}; repair adds copies when holders join` };
  }

  /** A signed manifest to this node's store and to every candidate (so any of them can serve `blob get`). */
  private async spreadManifest(mBytes: Buffer, candidates: string[]): Promise<ContentRef> {
    const mRef = await this.access.local.put(mBytes);
    await Promise.all(
      candidates
        .filter((c) => c !== this.self)
        .map((c) => this.access.place(c, mRef, mBytes, { purpose: 'manifest' }).catch(() => undefined)),
    );
    return mRef;
  }

  /**
   * `want` copies on distinct holders taken in `order`, sent in parallel: a failed transfer hands its slot to the
   * next holder in the order, so there are never more than `want` copies in flight or placed.
   */
  private async placeCopies(ref: ContentRef, src: ShardSource, want: number, order: string[], manifestId: string): Promise<string[]> {
    const placed: string[] = [];
    let next = 0;
    let inFlight = 0;
    const slot = async (): Promise<void> => {
      while (next < order.length && placed.length + inFlight < want) {
        const holder = order[next++]!;
        inFlight++;
        try {
          await this.uploads.run(() => this.access.place(holder, ref, src, { purpose: 'shard', manifestId }));
          placed.push(holder);
        } catch (err) {
          this.log.warn({ holder, sha256: ref.sha256, err: errorMessage(err) }, 'shard placement failed; trying another holder');
        } finally {
          inFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: want }, slot));
    return placed;
  }

  /** Pins now when kubo answers, else queues for the repair loop's catch-up. */
  async pinInKubo(manifestId: string, items: { ref: ContentRef; src: ShardSource }[]): Promise<'pinned' | 'queued' | 'none'> {
    const kubo = this.kubo();
    if (!kubo) return 'none';
    if (kubo.up) {
      try {
        for (const it of items) await (it.src instanceof Uint8Array ? kubo.store.put(it.src) : kubo.store.putFile(it.src.file, it.ref));
        return 'pinned';
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'kubo pin failed; queued for catch-up');
      }
    }
    for (const it of items) this.repo.queueKubo(it.ref.sha256, it.ref.cid, manifestId, this.now());
    return 'queued';
  }

  /** The manifest named `id`, from this node, kubo or any live peer; refused unless its hash and signature hold. */
  async manifest(id: string): Promise<SignedManifest> {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new MagnetError('ERR_BAD_ID', `not a manifest id (64 lowercase hex): ${id}`);
    const ref = { sha256: id, cid: '' };
    let lastError: unknown;
    for (const holder of this.readers()) {
      const got = await this.access.fetch(holder, ref, MAX_MANIFEST_BYTES);
      if (!('bytes' in got)) continue;
      try {
        return verifyManifest(got.bytes, id);
      } catch (err) {
        lastError = err;
        this.log.warn({ holder, id, err: errorMessage(err) }, 'manifest refused');
      }
    }
    if (lastError) throw lastError;
    throw new MagnetError('ERR_BLOB_NOT_FOUND', `no reachable holder has manifest ${id}`, { id });
  }

  /** Rebuilds the blob in memory (a work file read back): for blobs that fit; getToFile for any size. */
  async get(id: string): Promise<{ bytes: Uint8Array; manifest: Manifest }> {
    const work = await this.access.local.workDir();
    try {
      const file = join(work, 'blob');
      const manifest = await this.getToFile(id, file);
      return { bytes: await readFile(file), manifest };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Rebuilds the blob into `dest` (written, fsynced; removed again when the blob fails its hash): any K verified
   * shards, fetched in parallel from the fastest holders to work files, missing data shards rebuilt window by window.
   */
  async getToFile(id: string, dest: string): Promise<Manifest> {
    try {
      const m = await this.rebuildTo(id, dest);
      this.observer?.got(true);
      return m;
    } catch (err) {
      this.observer?.got(false);
      throw err;
    }
  }

  private async rebuildTo(id: string, dest: string): Promise<Manifest> {
    const { manifest: m } = await this.manifest(id);
    const work = await this.access.local.workDir();
    try {
      const files = await this.fetchShards(id, m, m.k, work);
      const missing = files.slice(0, m.k).flatMap((f, i) => (f === undefined ? [i] : []));
      if (missing.length > 0) {
        const rebuilt = await rebuildFiles(new ReedSolomon(m.k, m.m), files, m.shardSize, missing, work);
        for (const [i, s] of rebuilt) files[i] = s.file;
      }
      const actual = await joinFiles(files.slice(0, m.k) as string[], m.blob.size, dest);
      if (actual !== m.blob.sha256) {
        await rm(dest, { force: true });
        throw new MagnetError('ERR_BLOB_HASH', `rebuilt blob ${id} hashes to ${actual}, expected ${m.blob.sha256}`, { id });
      }
      return m;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Fetches `need` distinct verified shards k-of-n (kofn-fetch.ts) into files in `work`: data shards first (no
   * decoding when they all arrive), `need` at a time in parallel, each from its fastest holder and continued from
   * another at the same offset when that one stalls, leaves or refuses. Undefined slots are missing.
   */
  async fetchShards(
    id: string,
    m: Manifest,
    need: number,
    work: string,
    skip: ReadonlySet<number> = new Set(),
  ): Promise<(string | undefined)[]> {
    const r = await this.fetchAnyK(
      id,
      m,
      need,
      m.shards.map((s) => s.index).filter((i) => !skip.has(i)),
      work,
    );
    if (r.got < need)
      throw new MagnetError('ERR_BLOB_UNAVAILABLE', `only ${r.got} of the ${need} shards needed for ${id} could be fetched`, {
        id,
        got: r.got,
        need,
      });
    return r.shards.map((s) => s?.file);
  }

  /** One shard into a file in `work`, from its holders fastest first, then every other live peer; corrupt copies are recorded. */
  async fetchShard(id: string, m: Manifest, idx: number, work: string): Promise<string | undefined> {
    return (await this.fetchAnyK(id, m, 1, [idx], work)).shards[idx]?.file;
  }

  /** The k-of-n fetch over this node's holders and access, with its refusals logged, counted and recorded. */
  async fetchAnyK(id: string, m: Manifest, need: number, indices: number[], work: string): Promise<KofNResult<FileSink>> {
    const rows = this.repo.shards(id); // read once: holdersOf runs per shard
    const known = (idx: number) => rows.find((r) => r.idx === idx)?.holders ?? [];
    const result = await fetchAnyK({
      shards: m.shards,
      shardSize: m.shardSize,
      need,
      indices,
      holdersOf: (idx) => [...this.access.rank([this.self, ...known(idx), ...m.shards[idx]!.holders]), ...this.access.rank(this.readers())],
      read: (holder, ref, offset, maxBytes, signal) => this.access.read(holder, ref, offset, maxBytes, signal),
      sink: (idx) => new FileSink(join(work, `fetched-${idx}`)),
      stallMs: this.opts.fetchStallMs,
      timed: (holder, bytes, ms) => this.access.note(holder, bytes, ms),
      refused: (holder, idx, reason, detail) => {
        if (reason === 'corrupt' && this.repo.blob(id)) this.repo.setHolder(id, idx, holder, 'corrupt', this.now());
        else if (reason !== 'withheld') this.access.note(holder, 1 << 20, 10_000); // a failing holder drops in the ranking
        // A holder the signed manifest placed this shard on that does not give it back: logged by name, counted by reason.
        if (holder === this.self || !m.shards[idx]!.holders.includes(holder)) return;
        this.observer?.refused(reason);
        this.log.warn({ holder, id, shard: idx, reason, err: detail }, `shard ${idx} of ${id} refused by its holder ${holder}: ${reason}`);
      },
    });
    await Promise.all(result.shards.map((s) => s?.close()));
    if (result.resumed > 0 || Object.keys(result.refusals).length > 0)
      this.log.info({ id, got: result.got, need, resumed: result.resumed, refusals: result.refusals }, 'k-of-n fetch switched sources');
    this.lastFetch = result;
    return result;
  }
}

function rotate<T>(xs: T[], by: number): T[] {
  return [...xs.slice(by), ...xs.slice(0, by)];
}
