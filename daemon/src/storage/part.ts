import type { NodeConfig } from '../config/node-config.js';
import type { StateDb } from '../db/database.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Startable } from '../util/lifecycle.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { sha256Hex } from './cid.js';
import { type RetentionSource, Scrubber, collectGarbage, kuboCatchUp, noRetention } from './maintenance.js';
import { type StorageMetrics, storageMetrics } from './metrics.js';
import { type RoundReport, Repairer } from './repair.js';
import { BlobService } from './service.js';
import { ShardAccess } from './shard-access.js';
import { StorageRepository } from './storage-repo.js';
import { EmbeddedStore } from './stores/embedded-store.js';
import { KuboStore } from './stores/kubo-store.js';
import type { PeerDirectory, ShardTransport } from './transport.js';
import { livePeers } from './transport.js';

export interface StorageDeps {
  options: NodeConfig['storage'];
  /** Directory of the embedded shard store (`<home>/shards`). */
  dir: string;
  identity: NodeIdentity;
  db: StateDb;
  log: Logger;
  metrics: Metrics;
  transport: ShardTransport;
  peers: PeerDirectory;
  retention?: RetentionSource;
}

/**
 * The storage part: embedded store (always), kubo (when configured), blob put/get, and the repair loop
 * (kubo health and catch-up, scrub, repairs by priority, GC) every `repairIntervalMs`.
 */
export class StoragePart implements Startable {
  readonly local: EmbeddedStore;
  readonly kubo: KuboStore | undefined;
  readonly repo: StorageRepository;
  readonly access: ShardAccess;
  readonly service: BlobService;
  readonly repairer: Repairer;
  readonly options: NodeConfig['storage'];
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
      { k: o.dataShards, m: o.parityShards, replicas: o.replicas, staleAfterMs: o.staleAfterMs, maxBlobBytes: o.maxBlobBytes },
      this.log,
      kuboState,
    );
    this.repairer = new Repairer(
      this.service,
      this.access,
      deps.peers,
      this.repo,
      { replicas: o.replicas, staleAfterMs: o.staleAfterMs, repairBytesPerSec: o.repairBytesPerSec },
      this.log,
    );
    this.scrubber = new Scrubber(this.local, this.log);
    this.metrics = storageMetrics(deps.metrics);
    const metrics = this.metrics;
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
    await this.checkKubo();
    if (this.kubo && !this.kuboUp)
      this.log.warn(
        { api: this.options.ipfsApi },
        'kubo does not answer: storing to peers and the embedded store, will catch up when it returns',
      );
    this.abort = new AbortController();
    this.started = true;
    this.schedule();
    this.log.info(
      { dir: this.local.dir, kubo: this.options.ipfsApi || null, k: this.options.dataShards, m: this.options.parityShards },
      'storage started',
    );
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
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
      await collectGarbage(
        this.deps.retention ?? noRetention,
        this.options.gcKeepRounds,
        this.repo,
        this.service.self,
        this.local,
        this.kuboUp ? this.kubo : undefined,
        this.log,
      );
      this.lastRound = { ...report, durationMs: Date.now() - t0 };
      this.rounds++;
    } catch (err) {
      if (!signal.aborted) this.log.error({ err: errorMessage(err) }, 'storage maintenance round failed');
    }
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
      kubo: this.kubo
        ? {
            api: this.options.ipfsApi,
            up: this.kuboUp,
            pending: this.repo.kuboPendingCount(),
            note: this.kuboUp ? undefined : 'kubo down: storing to peers and the embedded store, catching up when it returns',
          }
        : null,
      coding: { k: this.options.dataShards, m: this.options.parityShards, replicas: this.options.replicas },
      holders: {
        live: 1 + livePeers(this.deps.peers, now, this.options.staleAfterMs).filter((p) => p.nodeId !== this.service.self).length,
      },
      blobs: this.repo.counts(),
      repair: { intervalMs: this.options.repairIntervalMs, rounds: this.rounds, last: this.lastRound ?? null },
      scrub: { filesChecked: this.scrubber.filesChecked, corruptFound: this.scrubber.corruptFound },
    };
  }

  /**
   * The benchmark's reference: the same bytes sent whole to `peers` over the data plane (no coding, one copy
   * each, in parallel), then read back from the first. The copies are not tracked (nothing repairs or collects them).
   */
  async plainCopy(bytes: Uint8Array, peers: string[]): Promise<{ putMs: number; getMs: number }> {
    if (peers.length === 0) throw new MagnetError('ERR_BAD_REQUEST', 'plain copy needs at least one live storage peer');
    const sha256 = sha256Hex(bytes);
    const t0 = performance.now();
    await Promise.all(peers.map((p) => this.deps.transport.put(p, sha256, bytes)));
    const t1 = performance.now();
    const back = await this.deps.transport.get(peers[0]!, sha256);
    const getMs = performance.now() - t1;
    if (!back || sha256Hex(back) !== sha256) throw new MagnetError('ERR_BLOB_HASH', `${peers[0]} gave back different bytes for ${sha256}`);
    return { putMs: t1 - t0, getMs };
  }

  /** Live storage peers other than this node. */
  livePeerIds(): string[] {
    return this.service.candidates().filter((c) => c !== this.service.self);
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
      shards: shards.map((s) => ({ index: s.idx, holders: s.liveHolders })),
      manifest,
    };
  }
}
