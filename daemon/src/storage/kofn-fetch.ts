import { errorMessage, isMagnetError } from '../util/errors.js';
import { sha256Hex } from './cid.js';
import type { ContentRef } from './stores/content-store.js';

/** Why a holder did not give a shard: every one is reported (metrics, logs) and the fetch goes on elsewhere. */
export type FetchRefusal = 'withheld' | 'corrupt' | 'oversize' | 'failed' | 'stalled';

/**
 * Bytes of one copy from `offset` on, at most `maxBytes` in all. Throws ERR_SHARD_MISSING when the holder has none;
 * must end (throw) soon after `signal` aborts.
 */
export type PieceReader = (
  holder: string,
  ref: ContentRef,
  offset: number,
  maxBytes: number,
  signal: AbortSignal,
) => AsyncIterable<Uint8Array>;

export interface KofNRequest {
  /** Every shard of the blob, by index. */
  shards: readonly ContentRef[];
  shardSize: number;
  /** Complete shards wanted (K for a blob, 1 for one shard). */
  need: number;
  /** Shard indices to try, in order of preference (data shards first: no decoding when they all arrive). */
  indices: readonly number[];
  /** Holders of shard `idx`, best first. */
  holdersOf(idx: number): string[];
  read: PieceReader;
  /** A source that sends nothing for this long is dropped and the shard goes on from another holder at that offset. */
  stallMs: number;
  refused?(holder: string, idx: number, reason: FetchRefusal, detail: string): void;
  /** A source's transfer, for ranking holders by speed. */
  timed?(holder: string, bytes: number, ms: number): void;
}

export interface KofNResult {
  /** Complete, hash-checked shards by index; undefined where none was fetched. */
  shards: (Uint8Array | undefined)[];
  got: number;
  /** Bytes received, from every source, kept or not. */
  bytes: number;
  /** Shards continued on another holder from the offset the previous one reached. */
  resumed: number;
  /** Holders dropped mid-shard or refused, by reason. */
  refusals: Partial<Record<FetchRefusal, number>>;
}

/**
 * k-of-n fetch: `need` shards in parallel, each from its best holder; a holder that fails, stalls, leaves or
 * withholds is replaced by the next, continuing the same shard from the bytes already received (a byte range), and a
 * shard that no holder can give is replaced by the next index. Each complete shard is checked against its sha256;
 * a mismatch discards it and every source it came from, and the shard starts over from another holder.
 */
export async function fetchAnyK(req: KofNRequest): Promise<KofNResult> {
  const result: KofNResult = { shards: new Array(req.shards.length).fill(undefined), got: 0, bytes: 0, resumed: 0, refusals: {} };
  const queue = [...req.indices];
  const worker = async (): Promise<void> => {
    while (result.got < req.need && queue.length > 0) {
      const idx = queue.shift()!;
      const bytes = await fetchOne(req, idx, result);
      if (bytes) {
        result.shards[idx] = bytes;
        result.got++;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(req.need, queue.length) }, worker));
  return result;
}

async function fetchOne(req: KofNRequest, idx: number, result: KofNResult): Promise<Uint8Array | undefined> {
  const ref = req.shards[idx]!;
  const size = req.shardSize;
  const buf = new Uint8Array(size);
  let filled = 0;
  let sources: string[] = [];
  const tried = new Set<string>();
  const refuse = (holder: string, reason: FetchRefusal, detail: string) => {
    result.refusals[reason] = (result.refusals[reason] ?? 0) + 1;
    req.refused?.(holder, idx, reason, detail);
  };
  for (const holder of req.holdersOf(idx)) {
    if (tried.has(holder)) continue;
    tried.add(holder);
    const start = filled;
    if (start > 0) result.resumed++;
    const stall = new AbortController();
    const timer = setTimeout(() => stall.abort(), req.stallMs);
    const t0 = performance.now();
    let failure: { reason: FetchRefusal; detail: string } | undefined;
    try {
      for await (const chunk of req.read(holder, ref, filled, size, stall.signal)) {
        result.bytes += chunk.length;
        if (filled + chunk.length > size) {
          failure = { reason: 'oversize', detail: `sent more than the ${size} bytes of the shard` };
          break;
        }
        buf.set(chunk, filled);
        filled += chunk.length;
        timer.refresh();
      }
      if (!failure && filled < size) failure = { reason: 'failed', detail: `the copy ended after ${filled} of ${size} bytes` };
    } catch (err) {
      const reason: FetchRefusal = stall.signal.aborted
        ? 'stalled'
        : isMagnetError(err, 'ERR_SHARD_MISSING')
          ? 'withheld'
          : isMagnetError(err, 'ERR_BLOB_TOO_LARGE')
            ? 'oversize'
            : isMagnetError(err, 'ERR_CONTENT_CORRUPT')
              ? 'corrupt'
              : 'failed';
      failure = { reason, detail: reason === 'stalled' ? `no bytes for ${req.stallMs} ms` : errorMessage(err) };
    } finally {
      clearTimeout(timer);
    }
    // An oversize source is hostile: nothing it sent is kept. Any other keeps what it gave; the hash judges it.
    if (failure?.reason === 'oversize') filled = start;
    if (filled > start) {
      sources.push(holder);
      req.timed?.(holder, filled - start, performance.now() - t0);
    }
    if (failure) {
      refuse(holder, failure.reason, failure.detail);
      continue;
    }
    if (sha256Hex(buf) === ref.sha256) return buf;
    // Which source lied is unknown when several gave bytes: each is reported, and the shard starts over.
    for (const h of sources) refuse(h, 'corrupt', `shard ${idx} failed its hash check`);
    sources = [];
    filled = 0;
  }
  return undefined;
}
