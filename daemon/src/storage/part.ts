import type { StateDb } from '../db/database.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { existsSync } from 'node:fs';
import type { BlobBackend } from '../net/blob-backend.js';
import type { Startable } from '../util/lifecycle.js';
import { errorMessage } from '../util/errors.js';
import { DiskWatch } from './disk-watch.js';
import { HeldRepository } from './held-repo.js';
import { type RetentionSource, Scrubber, collectGarbage, kuboCatchUp, noRetention } from './maintenance.js';
import { type StorageMetrics, storageMetrics } from './metrics.js';
import type { StorageOptions } from './options.js';
import { type RoundReport, Repairer } from './repair.js';
import { BlobService, type PutResult } from './service.js';
import type { Manifest } from './manifest.js';
import { ShardAccess } from './shard-access.js';
import { StorageRepository } from './storage-repo.js';
import { EmbeddedStore } from './stores/embedded-store.js';
import { KuboStore } from './stores/kubo-store.js';
import type { PeerDirectory, ShardTransport } from './transport.js';
import { livePeers } from './transport.js';
import type { GradientGate } from './placement.js';
import { UploadGate } from './uploads.js';

export interface StorageDeps {
  options: StorageOptions;
  /** Directory of the embedded shard store (`<home>/shards`). */
  dir: string;
  identity: NodeIdentity;
  db: StateDb;
  log: Logger;
  metrics: Metrics;
  transport: ShardTransport;
  peers: PeerDirectory;
  retention?: RetentionSource;
  /** Whether this node's tier and roles let it hold shards (default true: the storage part's own tests). */
  selfStores?: boolean;
  /** The node's shutdown signal: when it aborts, the maintenance loop schedules nothing more and its round is cut. */
  signal?: AbortSignal;
}

/**
 * The storage part: embedded store (always), kubo (when configured), blob put/get, and the repair loop
 * (kubo health and catch-up, scrub, repairs by priority, GC) every `repairIntervalMs`.
 */
export class StoragePart implements Startable {
  // White-box handles for the storage part's own tests; the other parts use put, get, localPath, expectGradients
  // and backend below (node/wiring adapts them).
  readonly local: EmbeddedStore;
  readonly repo: StorageRepository;
  readonly access: ShardAccess;
  readonly service: BlobService;
  readonly repairer: Repairer;
  private readonly kubo: KuboStore | undefined;
  /** What peers may store here, how much, for how long (the data plane asks it through the embedded store). */
  private readonly uploads: UploadGate;
  private readonly disk: DiskWatch;
  private readonly options: StorageOptions;
  private readonly scrubber: Scrubber;
  private readonly metrics: StorageMetrics;
  private readonly log: Logger;
  private kuboUp = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private abort = new AbortController();
  private started = false;
  private lastRound: (RoundReport & { durationMs: number }) | undefined;
  private rounds = 0;
  private readonly held: HeldRepository;

  constructor(private readonly deps: StorageDeps) {
    const o = (this.options = deps.options);
    this.log = deps.log;
    this.local = new EmbeddedStore(deps.dir);
    this.kubo = o.ipfsApi ? new KuboStore({ api: o.ipfsApi }) : undefined;
    this.repo = new StorageRepository(deps.db);
    this.access = new ShardAccess(deps.identity.nodeId, this.local, deps.transport, this.log, this.kubo);
    const kuboState = () => (this.kubo ? { store: this.kubo, up: this.kuboUp } : undefined);
    this.service = new BlobService(
      deps.identity,
      this.access,
      deps.peers,
      this.repo,
      {
        k: o.dataShards,
        m: o.parityShards,
        replicas: o.replicas,
        gradientReplicas: o.gradientReplicas,
        staleAfterMs: o.staleAfterMs,
        maxBlobBytes: o.maxBlobBytes,
        fetchStallMs: o.fetchStallMs,
        selfStores: deps.selfStores ?? true,
      },
      this.log,
      kuboState,
    );
    this.repairer = new Repairer(
      this.service,
      this.access,
      deps.peers,
      this.repo,
      { replicas: o.replicas, gradientReplicas: o.gradientReplicas, staleAfterMs: o.staleAfterMs, repairBytesPerSec: o.repairBytesPerSec },
      this.log,
    );
    this.scrubber = new Scrubber(this.local, this.log);
    this.metrics = storageMetrics(deps.metrics);
    const metrics = this.metrics;
    this.disk = new DiskWatch(deps.dir, { minFreeBytes: o.minFreeBytes, minFreePercent: o.minFreePercent }, this.log, (low, free) => {
      metrics.diskLow.set(low ? 1 : 0);
      metrics.diskFree.set(free);
    });
    const held = new HeldRepository(deps.db);
    this.uploads = new UploadGate({
      self: deps.identity.nodeId,
      store: this.local,
      held,
      repo: this.repo,
      disk: this.disk,
      opts: {
        peerQuotaBytes: o.peerQuotaBytes,
        totalQuotaBytes: o.totalQuotaBytes,
        leaseMs: o.leaseHours * 3_600_000,
        gradientLeaseMs: o.gradientLeaseHours * 3_600_000,
      },
      log: this.log,
      collected: (blobs) => metrics.heldCollected.inc(blobs),
      keep: () => this.keepSet(),
    });
    this.local.setUploadGate(this.uploads);
    this.held = held;
    this.service.observer = {
      put: (seconds) => {
        metrics.puts.inc();
        metrics.putSeconds.observe(seconds);
      },
      got: (ok) => metrics.gets.inc({ result: ok ? 'ok' : 'failed' }),
      refused: (reason) => metrics.shardRefusals.inc({ reason }),
    };
  }

  async start(): Promise<void> {
    if (this.started) return;
    await this.local.init();
    await this.checkDisk();
    await this.checkKubo();
    if (this.kubo && !this.kuboUp)
      this.log.warn(
        { api: this.options.ipfsApi },
        'kubo does not answer: storing to peers and the embedded store, will catch up when it returns',
      );
    this.abort = new AbortController();
    this.started = true;
    this.deps.signal?.addEventListener('abort', () => this.halt(), { once: true });
    this.schedule();
    this.log.info(
      { dir: this.local.dir, kubo: this.options.ipfsApi || null, k: this.options.dataShards, m: this.options.parityShards },
      'storage started',
    );
  }

  async stop(): Promise<void> {
    this.halt(); // perhaps already halted by the node's signal: the loop round running is still waited for
    await this.running?.catch(() => undefined);
  }

  /** Schedules no more loop rounds and cuts the one running (stop() then waits for it). */
  private halt(): void {
    this.started = false;
    clearTimeout(this.timer);
    this.abort.abort();
  }

  private schedule(): void {
    if (!this.started) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => this.schedule());
    }, this.options.repairIntervalMs);
    this.timer.unref();
  }

  /** One loop period: kubo, scrub, repair, GC. Never throws (a failing step is logged and retried next time). */
  async tick(): Promise<void> {
    const t0 = Date.now();
    const signal = this.abort.signal;
    try {
      await this.checkKubo();
      if (this.kubo && this.kuboUp && this.repo.kuboPendingCount() > 0) {
        const n = await kuboCatchUp(this.kubo, this.repo, this.access, this.log);
        if (n > 0) this.log.info({ pinned: n, left: this.repo.kuboPendingCount() }, 'kubo catch-up');
      }
      const scrub = await this.scrubber.round(this.options.scrubBytesPerRound);
      this.metrics.scrubbed.inc(scrub.checked);
      this.metrics.corrupt.inc(scrub.corrupt.length);
      if (signal.aborted) return;
      const report = await this.repairer.round(signal);
      this.metrics.repairRounds.inc();
      this.metrics.shardsRebuilt.inc(report.shardsRebuilt);
      this.metrics.copiesPlaced.inc(report.copiesPlaced);
      this.metrics.repairBytes.inc(report.bytesMoved);
      this.metrics.blobs.reset();
      for (const [p, n] of Object.entries(this.repo.counts().byPriority)) this.metrics.blobs.set({ priority: p }, n);
      await this.checkDisk();
      await this.collect();
      this.lastRound = { ...report, durationMs: Date.now() - t0 };
      this.rounds++;
    } catch (err) {
      if (!signal.aborted) this.log.error({ err: errorMessage(err) }, 'storage maintenance round failed');
    }
  }

  /**
   * Garbage collection: blobs kept for peers past their lease (except the latest checkpoint's and those claims refer
   * to), gradients of settled rounds, then this node's own blobs older than gcKeepRounds (same exceptions). The byte gauges are read after.
   */
  private async collect(): Promise<{ collected: string[]; held: { blobs: number; bytes: number } }> {
    const retention = this.deps.retention ?? noRetention;
    const held = await this.uploads.collect(this.keepSet());
    const settled = retention.settledRound();
    if (settled > 0) {
      const g = await this.uploads.settleGradients(settled);
      held.blobs += g.blobs;
      held.bytes += g.bytes;
    }
    const collected = await collectGarbage(
      retention,
      this.options.gcKeepRounds,
      this.repo,
      this.service.self,
      this.local,
      this.kuboUp ? this.kubo : undefined,
      this.log,
      // Holders are told to delete their copies now (ReleaseBlob) instead of when the leases lapse.
      (id) => this.releaseEverywhere(id),
    );
    this.metrics.gcCollected.inc(collected.length);
    this.metrics.heldBytes.reset();
    for (const [purpose, c] of Object.entries(this.held.countsByPurpose())) this.metrics.heldBytes.set({ purpose }, c.bytes);
    this.metrics.ownedBytes.reset();
    for (const [kind, c] of Object.entries(this.repo.ownedByKind(this.service.self))) this.metrics.ownedBytes.set({ kind }, c.bytes);
    return { collected, held };
  }

  /** Manifest ids the network still needs: the latest checkpoint and what pending claims refer to. */
  private keepSet(): Set<string> {
    const retention = this.deps.retention ?? noRetention;
    return new Set([...retention.claimed(), ...[retention.latest()].filter((x): x is string => !!x)]);
  }

  /**
   * Asks every holder of a collected blob's shards, and every live storage peer (the manifest went to them all), to
   * delete its copies. Best effort: a holder that misses it deletes them when their lease lapses.
   */
  private async releaseEverywhere(id: string): Promise<number> {
    const holders = new Set([...this.repo.shards(id).flatMap((s) => s.holders), ...this.service.candidates()]);
    holders.delete(this.service.self);
    let released = 0;
    await Promise.all(
      [...holders].map(async (h) => {
        try {
          released += (await this.deps.transport.release(h, id)).released;
        } catch (err) {
          this.log.debug({ holder: h, id, err: errorMessage(err) }, 'release not taken; the lease will lapse');
        }
      }),
    );
    return released;
  }

  /** `magnet-node gc`: one collection now, after the maintenance round in progress (if any) ends. */
  async gcNow(): Promise<{ collected: string[]; held: { blobs: number; bytes: number }; bytes: Record<string, unknown> }> {
    await this.running?.catch(() => undefined);
    const r = await this.collect();
    return { ...r, bytes: this.bytesHeld() };
  }

  /** Bytes this node keeps: its own blobs by kind (before coding), and what it holds for peers by purpose. */
  private bytesHeld(): Record<string, unknown> {
    return { ownedByKind: this.repo.ownedByKind(this.service.self), heldForPeersByPurpose: this.held.countsByPurpose() };
  }

  /** The disk low-watermark alarm, read now (it is read again before every upload from a peer). */
  private async checkDisk(): Promise<void> {
    await this.disk.check().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot read the free disk space'));
  }

  private async checkKubo(): Promise<void> {
    if (!this.kubo) return;
    const up = await this.kubo.available();
    if (up !== this.kuboUp && this.started) this.log.warn({ api: this.options.ipfsApi, up }, up ? 'kubo is back' : 'kubo is down');
    this.kuboUp = up;
    this.metrics.kuboUp.set(up ? 1 : 0);
    this.metrics.kuboPending.set(this.repo.kuboPendingCount());
  }

  status(): Record<string, unknown> {
    const now = Date.now();
    return {
      embedded: { dir: this.local.dir },
      disk: this.disk.status(),
      bytes: this.bytesHeld(),
      fromPeers: this.uploads.status(),
      kubo: this.kubo
        ? {
            api: this.options.ipfsApi,
            up: this.kuboUp,
            pending: this.repo.kuboPendingCount(),
            note: this.kuboUp ? undefined : 'kubo down: storing to peers and the embedded store, catching up when it returns',
          }
        : null,
      coding: {
        k: this.options.dataShards,
        m: this.options.parityShards,
        replicas: this.options.replicas,
        gradientReplicas: this.options.gradientReplicas,
      },
      holders: {
        // Nodes that may hold shards: this one when its tier stores, and the live storage peers.
        live:
          (this.deps.selfStores === false ? 0 : 1) +
          livePeers(this.deps.peers, now, this.options.staleAfterMs).filter((p) => p.nodeId !== this.service.self).length,
      },
      blobs: this.repo.counts(),
      repair: { intervalMs: this.options.repairIntervalMs, rounds: this.rounds, last: this.lastRound ?? null },
      scrub: { filesChecked: this.scrubber.filesChecked, corruptFound: this.scrubber.corruptFound },
    };
  }

  // ---- what the other parts use: put, get, a local path, and the gate for the gradients of rounds this node leads

  /** Erasure-codes `bytes` and spreads the shards over the storage peers (and kubo when configured). */
  put(bytes: Uint8Array, kind: string, round: number): Promise<PutResult> {
    return this.service.put(bytes, kind, round);
  }

  /** Stores the file `src` (left in place), streamed: memory stays bounded whatever its size. */
  putFile(src: string, kind: string, round: number): Promise<PutResult> {
    return this.service.putFile(src, kind, round);
  }

  /** Rebuilds a blob from its manifest id (hash-checked), in memory: small blobs. */
  get(id: string): Promise<{ bytes: Uint8Array; manifest: Manifest }> {
    return this.service.get(id);
  }

  /** Rebuilds a blob into `dest` (hash-checked, fsynced), streamed: memory stays bounded whatever its size. */
  getToFile(id: string, dest: string): Promise<Manifest> {
    return this.service.getToFile(id, dest);
  }

  /** A private work directory in the shard store's tmp/ (removed at start): for a streamed upload or download. */
  workDir(): Promise<string> {
    return this.local.workDir();
  }

  /** The file of a blob pushed here whole through the data plane, when this node holds it. */
  localPath(sha256: string): string | undefined {
    const p = this.local.pathOf(sha256);
    return existsSync(p) ? p : undefined;
  }

  /** Admits the gradients of a round this node leads (pushed by its members) beyond the peer quotas. */
  expectGradients(gate: GradientGate): void {
    this.uploads.expectGradients(gate);
  }

  /** The data plane's store: what peers push here and fetch from here. */
  get backend(): BlobBackend {
    return this.local;
  }

  /** A blob's manifest, from this node or its peers (checked against its id), without fetching a shard. */
  async manifestOf(id: string): Promise<Manifest> {
    return (await this.service.manifest(id)).manifest;
  }

  /** The largest blob `put` takes. */
  get maxBlobBytes(): number {
    return this.options.maxBlobBytes;
  }

  /** `blob status`: the manifest and, for blobs this node owns, live holders and priority now. */
  async blobStatus(id: string): Promise<Record<string, unknown>> {
    const { manifest } = await this.service.manifest(id);
    const row = this.repo.blob(id);
    if (!row) return { id, owned: false, manifest };
    const { health, shards } = await this.repairer.assess(row);
    return {
      id,
      owned: true,
      state: row.state,
      priority: health.priority,
      liveShards: health.liveShards,
      target: health.target,
      replicas: health.replicas,
      minCopies: health.minCopies,
      shards: shards.map((s) => ({ index: s.idx, holders: s.liveHolders })),
      manifest,
    };
  }
}
