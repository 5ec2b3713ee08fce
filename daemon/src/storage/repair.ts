import type { Logger } from '../log/logger.js';
import { rm } from 'node:fs/promises';
import { MagnetError, errorMessage } from '../util/errors.js';
import { rebuildFiles } from './erasure/file-coding.js';
import { ReedSolomon } from './erasure/reed-solomon.js';
import { type BlobHealth, PRIORITIES, type ShardHealth, classify, replicasOf } from './health.js';
import { MAX_MANIFEST_BYTES, canonicalJson } from './manifest.js';
import { ByteRate } from './rate-limit.js';
import type { BlobService } from './service.js';
import type { ShardAccess } from './shard-access.js';
import type { BlobRow, StorageRepository } from './storage-repo.js';
import { type PeerDirectory, livePeers } from './transport.js';

export interface RepairOptions {
  replicas: number;
  gradientReplicas: number;
  staleAfterMs: number;
  repairBytesPerSec: number;
}

export interface RoundReport {
  at: number;
  blobs: number;
  byPriority: Record<string, number>;
  shardsRebuilt: number;
  copiesPlaced: number;
  bytesMoved: number;
  errors: string[];
}

/** How often a failing holder is named at warning level. */
const WARN_EVERY_MS = 10 * 60_000;

/**
 * One repair pass over the blobs this node owns: decide each blob's priority from live holders (stale peers
 * and copies failing a presence probe do not count), then repair critical first: rebuild shards nobody holds
 * from any K (Reed-Solomon, parity re-encoded), then copy shards up to the replica target on new holders, all
 * under one bytes/s budget.
 */
export class Repairer {
  private readonly rate: ByteRate;

  /** When each holder's failure was last logged as a warning: a dead peer is named once every 10 min, not per shard. */
  private readonly warnedAt = new Map<string, number>();

  private warnOncePer(holder: string, fields: Record<string, unknown>, msg: string): void {
    const now = this.now();
    const last = this.warnedAt.get(holder);
    if (last !== undefined && now - last < WARN_EVERY_MS) return this.log.debug(fields, msg);
    this.warnedAt.set(holder, now);
    this.log.warn(fields, `${msg} (further failures of this holder at debug level for 10 min)`);
  }

  constructor(
    private readonly service: BlobService,
    private readonly access: ShardAccess,
    private readonly peers: PeerDirectory,
    private readonly repo: StorageRepository,
    private readonly opts: RepairOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.rate = new ByteRate(opts.repairBytesPerSec);
  }

  async assess(blob: BlobRow): Promise<{ health: BlobHealth; shards: ShardHealth[] }> {
    const now = this.now();
    const live = new Set([this.service.self, ...livePeers(this.peers, now, this.opts.staleAfterMs).map((p) => p.nodeId)]);
    const rows = this.repo.shards(blob.manifestId);
    const shards: ShardHealth[] = [];
    for (const row of rows) {
      const liveHolders: string[] = [];
      for (const holder of row.holders) {
        if (!live.has(holder)) {
          this.repo.setHolder(blob.manifestId, row.idx, holder, 'lost', now);
          continue;
        }
        const present = await this.access.has(holder, row).catch(() => false);
        if (present) liveHolders.push(holder);
        else this.repo.setHolder(blob.manifestId, row.idx, holder, 'lost', now);
      }
      shards.push({ idx: row.idx, liveHolders });
    }
    return { health: classify(shards, blob.k, blob.m, replicasOf(blob.kind, this.opts), this.service.candidates().length), shards };
  }

  async round(signal?: AbortSignal): Promise<RoundReport> {
    const report: RoundReport = { at: this.now(), blobs: 0, byPriority: {}, shardsRebuilt: 0, copiesPlaced: 0, bytesMoved: 0, errors: [] };
    const assessed: { blob: BlobRow; health: BlobHealth; shards: ShardHealth[] }[] = [];
    for (const blob of this.repo.ownedActive(this.service.self)) {
      const a = await this.assess(blob);
      assessed.push({ blob, ...a });
      this.repo.setHealth(blob.manifestId, a.health.priority, a.health.liveShards, this.now(), false);
    }
    assessed.sort((a, b) => PRIORITIES.indexOf(a.health.priority) - PRIORITIES.indexOf(b.health.priority));
    for (const a of assessed) {
      report.blobs++;
      report.byPriority[a.health.priority] = (report.byPriority[a.health.priority] ?? 0) + 1;
      if (a.health.priority === 'healthy' || a.health.priority === 'degraded' || a.health.priority === 'lost') continue;
      if (signal?.aborted) break;
      try {
        await this.repairBlob(a.blob, a.health, a.shards, report, signal);
        const after = await this.assess(a.blob);
        this.repo.setHealth(a.blob.manifestId, after.health.priority, after.health.liveShards, this.now(), true);
      } catch (err) {
        report.errors.push(`${a.blob.manifestId}: ${errorMessage(err)}`);
        this.log.warn({ id: a.blob.manifestId, priority: a.health.priority, err: errorMessage(err) }, 'repair failed; retrying next round');
      }
    }
    return report;
  }

  private async repairBlob(
    blob: BlobRow,
    health: BlobHealth,
    shards: ShardHealth[],
    report: RoundReport,
    signal?: AbortSignal,
  ): Promise<void> {
    const id = blob.manifestId;
    const { manifest } = await this.service.manifest(id);
    const candidates = this.service.candidates();
    const missing = shards.filter((s) => s.liveHolders.length === 0).map((s) => s.idx);
    // Shards pass through files in a work directory, window by window: memory stays bounded whatever their size.
    const work = await this.access.local.workDir();
    try {
      const files: (string | undefined)[] = new Array(manifest.k + manifest.m).fill(undefined);
      if (missing.length > 0) {
        const got = await this.service.fetchShards(id, manifest, manifest.k, work, new Set(missing));
        await this.rate.take(manifest.shardSize * manifest.k, signal);
        const rebuilt = await rebuildFiles(new ReedSolomon(manifest.k, manifest.m), got, manifest.shardSize, missing, work);
        got.forEach((f, i) => (files[i] = f));
        for (const [i, r] of rebuilt) {
          // Rebuilt from verified shards it cannot differ, unless the codec is broken: never placed if it does.
          if (r.ref.sha256 !== manifest.shards[i]!.sha256)
            throw new MagnetError(
              'ERR_BLOB_HASH',
              `rebuilt shard ${i} of ${id} hashes to ${r.ref.sha256}, expected ${manifest.shards[i]!.sha256}`,
            );
          files[i] = r.file;
        }
        report.shardsRebuilt += missing.length;
        report.bytesMoved += manifest.shardSize * manifest.k;
        this.log.info({ id, missing, priority: health.priority }, 'rebuilt lost shards from any K');
      }
      for (const s of shards) {
        if (s.liveHolders.length >= health.target) continue;
        const ref = manifest.shards[s.idx]!;
        const file = files[s.idx] ?? (await this.service.fetchShard(id, manifest, s.idx, work));
        if (!file) throw new Error(`shard ${s.idx} could not be fetched for copying`);
        const src = { file, size: manifest.shardSize };
        const holders = new Set(s.liveHolders);
        for (const holder of candidates) {
          if (holders.size >= health.target) break;
          if (holders.has(holder)) continue;
          if (signal?.aborted) return;
          await this.rate.take(src.size, signal);
          try {
            // The manifest first: a holder takes a shard only under a manifest of its creator that it holds.
            await this.ensureManifestOn(holder, id);
            await this.access.place(holder, ref, src, { purpose: 'shard', manifestId: id });
            holders.add(holder);
            this.repo.setHolder(id, s.idx, holder, 'live', this.now());
            report.copiesPlaced++;
            report.bytesMoved += src.size;
          } catch (err) {
            this.warnOncePer(
              holder,
              { id, shard: s.idx, holder, err: errorMessage(err) },
              'placing a repair copy failed; trying another holder',
            );
          }
        }
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** A new holder gets the manifest before the shard (it places the shard there, and serves `blob get` after the creator is gone). */
  private async ensureManifestOn(holder: string, id: string): Promise<void> {
    const ref = { sha256: id, cid: '' };
    if (await this.access.has(holder, ref).catch(() => false)) return;
    const local = await this.access.fetch(this.service.self, ref, MAX_MANIFEST_BYTES);
    // Lost here (a corrupt copy moved aside): any holder's verified copy has the same canonical bytes.
    const bytes = 'bytes' in local ? local.bytes : Buffer.from(canonicalJson(await this.service.manifest(id)));
    if (!('bytes' in local)) await this.access.local.put(bytes);
    await this.access.place(holder, ref, bytes, { purpose: 'manifest' });
  }
}
