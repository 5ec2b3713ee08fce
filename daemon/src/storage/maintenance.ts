import type { Logger } from '../log/logger.js';
import { errorMessage, isMagnetError } from '../util/errors.js';
import { MAX_MANIFEST_BYTES } from './manifest.js';
import type { ShardAccess } from './shard-access.js';
import type { StorageRepository } from './storage-repo.js';
import type { EmbeddedStore } from './stores/embedded-store.js';
import type { KuboStore } from './stores/kubo-store.js';

/** What decides which blobs GC keeps: the diloco part knows rounds and `latest`, the chain part pending claims. */
export interface RetentionSource {
  currentRound(): number;
  /** Manifest id of the latest checkpoint, never collected. */
  latest(): string | undefined;
  /** Manifest ids that pending contribution claims refer to, never collected. */
  claimed(): Iterable<string>;
  /** The latest certified round (-1: none): gradients held for the rounds before it are deleted, leases or not. */
  settledRound(): number;
}

export const noRetention: RetentionSource = { currentRound: () => 0, latest: () => undefined, claimed: () => [], settledRound: () => -1 };

/**
 * Re-hashes local files, at most `bytesPerRound` per call, resuming where the last call stopped. A corrupt
 * file is moved aside by the store's hash check, so the owner's presence probe sees the copy gone and repairs it.
 */
export class Scrubber {
  private cursor = '';
  corruptFound = 0;
  filesChecked = 0;

  constructor(
    private readonly local: EmbeddedStore,
    private readonly log: Logger,
  ) {}

  async round(bytesPerRound: number): Promise<{ checked: number; corrupt: string[] }> {
    const names = await this.local.list();
    const start = names.findIndex((n) => n > this.cursor);
    const order = start < 0 ? names : [...names.slice(start), ...names.slice(0, start)];
    const corrupt: string[] = [];
    let bytes = 0;
    let checked = 0;
    for (const sha256 of order) {
      if (bytes >= bytesPerRound) break;
      this.cursor = sha256;
      try {
        bytes += (await this.local.verify(sha256)) ?? 0;
        checked++;
      } catch (err) {
        if (!isMagnetError(err, 'ERR_CONTENT_CORRUPT')) throw err;
        corrupt.push(sha256);
        this.log.warn({ sha256 }, 'scrub found a corrupt shard; moved aside, the owner re-places it');
      }
    }
    this.corruptFound += corrupt.length;
    this.filesChecked += checked;
    return { checked, corrupt };
  }
}

/** Adds what was stored while kubo was down, oldest first, once kubo answers again. */
export async function kuboCatchUp(kubo: KuboStore, repo: StorageRepository, access: ShardAccess, log: Logger, batch = 64): Promise<number> {
  let done = 0;
  for (const item of repo.kuboPending(batch)) {
    const ref = { sha256: item.sha256, cid: item.cid };
    const blob = repo.blob(item.manifestId);
    // What this item may be at most: the manifest itself, or one shard of its blob.
    const max = item.sha256 === item.manifestId || !blob ? MAX_MANIFEST_BYTES : Math.max(1, Math.ceil(blob.size / blob.k));
    // This node's copy goes to kubo as a stream from its file (a shard of any size); else a holder's, in memory.
    if ((await access.local.verify(item.sha256).catch(() => undefined)) !== undefined) {
      await kubo.putFile(access.local.pathOf(item.sha256), ref);
      repo.kuboDone(item.sha256);
      done++;
      continue;
    }
    let bytes: Uint8Array | undefined;
    for (const s of repo.shards(item.manifestId).filter((r) => r.sha256 === item.sha256)) {
      for (const holder of s.holders) {
        const r = await access.fetch(holder, ref, max);
        if ('bytes' in r) {
          bytes = r.bytes;
          break;
        }
      }
    }
    if (!bytes) {
      log.warn({ sha256: item.sha256 }, 'kubo catch-up: no copy reachable now; will retry');
      continue;
    }
    await kubo.put(bytes);
    repo.kuboDone(item.sha256);
    done++;
  }
  return done;
}

/**
 * Unpins (kubo and this node's store) the shards of blobs this node owns that are older than `keepRounds` rounds, except the
 * latest checkpoint and blobs pending claims refer to, and has `release` tell their holders. Manifests stay here (small,
 * and the history of what was stored).
 */
export async function collectGarbage(
  retention: RetentionSource,
  keepRounds: number,
  repo: StorageRepository,
  self: string,
  local: EmbeddedStore,
  kubo: KuboStore | undefined,
  log: Logger,
  release?: (manifestId: string) => Promise<number>,
): Promise<string[]> {
  const round = retention.currentRound();
  const keep = new Set([...retention.claimed()]);
  const latest = retention.latest();
  if (latest) keep.add(latest);
  const collected: string[] = [];
  for (const blob of repo.ownedActive(self)) {
    if (blob.round >= round - keepRounds || keep.has(blob.manifestId)) continue;
    try {
      for (const s of repo.shards(blob.manifestId)) {
        await local.unpin(s);
        await kubo?.unpin(s);
      }
      repo.markCollected(blob.manifestId);
      collected.push(blob.manifestId);
      if (release) await release(blob.manifestId);
    } catch (err) {
      log.warn({ id: blob.manifestId, err: errorMessage(err) }, 'GC of a blob failed; retrying next round');
    }
  }
  if (collected.length > 0) log.info({ collected, round, keepRounds }, 'old blobs unpinned');
  return collected;
}
