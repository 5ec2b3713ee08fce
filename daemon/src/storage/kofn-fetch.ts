import { createHash } from 'node:crypto';
import { type FileHandle, open, rm } from 'node:fs/promises';
import { errorMessage, isMagnetError } from '../util/errors.js';
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

/**
 * Where one shard's bytes go as they arrive, in order (a fetch that switches source goes on at the same offset):
 * a file (FileSink), so a shard of any size costs one chunk of memory. It hashes what it was given.
 */
export interface ShardSink {
  write(chunk: Uint8Array): Promise<void> | void;
  /** sha256 (hex) of everything written since the last reset; called once, when the shard is complete. */
  digest(): string;
  /** Forgets everything written: the shard starts over from another holder. */
  reset(): Promise<void> | void;
}

/** A shard written to a file as it arrives, hashed on the way: memory stays at one chunk whatever the shard's size. */
export class FileSink implements ShardSink {
  private fh: FileHandle | undefined;
  private hash = createHash('sha256');
  constructor(readonly file: string) {}
  async write(chunk: Uint8Array): Promise<void> {
    this.fh ??= await open(this.file, 'w', 0o600);
    for (let off = 0; off < chunk.length;) off += (await this.fh.write(chunk, off, chunk.length - off)).bytesWritten;
    this.hash.update(chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
  async reset(): Promise<void> {
    await this.close();
    await rm(this.file, { force: true });
    this.hash = createHash('sha256');
  }
  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}

export interface KofNRequest<S extends ShardSink = ShardSink> {
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
  /** Where shard `idx` is written as it arrives. */
  sink(idx: number): S;
  /** A source that sends nothing for this long is dropped and the shard goes on from another holder at that offset. */
  stallMs: number;
  refused?(holder: string, idx: number, reason: FetchRefusal, detail: string): void;
  /** A source's transfer, for ranking holders by speed. */
  timed?(holder: string, bytes: number, ms: number): void;
}

export interface KofNResult<S extends ShardSink = ShardSink> {
  /** Complete, hash-checked shards by index; undefined where none was fetched. */
  shards: (S | undefined)[];
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
export async function fetchAnyK<S extends ShardSink>(req: KofNRequest<S>): Promise<KofNResult<S>> {
  const result: KofNResult<S> = { shards: new Array(req.shards.length).fill(undefined), got: 0, bytes: 0, resumed: 0, refusals: {} };
  const queue = [...req.indices];
  const worker = async (): Promise<void> => {
    while (result.got < req.need && queue.length > 0) {
      const idx = queue.shift()!;
      const sink = await fetchOne(req, idx, result);
      if (sink) {
        result.shards[idx] = sink;
        result.got++;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(req.need, queue.length) }, worker));
  return result;
}

async function fetchOne<S extends ShardSink>(req: KofNRequest<S>, idx: number, result: KofNResult<S>): Promise<S | undefined> {
  const ref = req.shards[idx]!;
  const size = req.shardSize;
  const sink = req.sink(idx);
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
        await sink.write(chunk);
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
    // An oversize source is hostile: the shard starts over without what it sent. Any other keeps what it gave; the
    // hash judges it.
    if (failure?.reason === 'oversize') {
      await sink.reset();
      filled = 0;
      sources = [];
    }
    if (filled > start) {
      sources.push(holder);
      req.timed?.(holder, filled - start, performance.now() - t0);
    }
    if (failure) {
      refuse(holder, failure.reason, failure.detail);
      continue;
    }
    if (sink.digest() === ref.sha256) return sink;
    // Which source lied is unknown when several gave bytes: each is reported, and the shard starts over.
    for (const h of sources) refuse(h, 'corrupt', `shard ${idx} failed its hash check`);
    sources = [];
    filled = 0;
    await sink.reset();
  }
  await sink.reset();
  return undefined;
}
