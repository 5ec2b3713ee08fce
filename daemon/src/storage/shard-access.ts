import type { Logger } from '../log/logger.js';
import type { Placement } from '../net/blob-backend.js';
import { MagnetError, errorMessage, isMagnetError } from '../util/errors.js';
import { sha256Hex } from './cid.js';
import type { ContentRef } from './stores/content-store.js';
import type { EmbeddedStore } from './stores/embedded-store.js';
import type { KuboStore } from './stores/kubo-store.js';
import type { ShardSource, ShardTransport } from './transport.js';

/** `oversize`: the holder announced or sent more than the expected size (cut off there). */
export type FetchOutcome = { bytes: Uint8Array } | { missing: true } | { corrupt: true } | { oversize: string } | { failed: string };

/**
 * Reads and writes one shard at one holder: this node (embedded store, then kubo) or a peer (data plane).
 * Every read is hash-checked here, whatever the source; a source's speed is remembered to rank holders.
 */
export class ShardAccess {
  /** Smoothed ms per MiB per holder, to ask the fastest first. */
  private readonly speed = new Map<string, number>();

  constructor(
    readonly self: string,
    readonly local: EmbeddedStore,
    private readonly transport: ShardTransport,
    private readonly log: Logger,
    private kubo?: KuboStore,
  ) {}

  setKubo(kubo: KuboStore | undefined): void {
    this.kubo = kubo;
  }

  /** One copy from `holder`, at most `maxBytes` of it (the size this node expects: a shard's, a manifest's at most). */
  async fetch(holder: string, ref: ContentRef, maxBytes: number): Promise<FetchOutcome> {
    const t0 = performance.now();
    try {
      let bytes: Uint8Array | undefined;
      if (holder === this.self) {
        try {
          bytes = await this.local.get(ref);
        } catch (err) {
          if (isMagnetError(err, 'ERR_CONTENT_CORRUPT')) return { corrupt: true };
          throw err;
        }
        if (!bytes && this.kubo) bytes = await this.kubo.get(ref).catch(() => undefined);
      } else {
        bytes = await this.transport.get(holder, ref.sha256, maxBytes);
      }
      if (!bytes) return { missing: true };
      if (sha256Hex(bytes) !== ref.sha256) {
        this.log.warn({ holder, sha256: ref.sha256 }, 'shard failed its hash check; ignoring that copy');
        return { corrupt: true };
      }
      this.note(holder, bytes.length, performance.now() - t0);
      return { bytes };
    } catch (err) {
      this.note(holder, 1 << 20, 10_000); // a failing holder drops in the ranking
      if (isMagnetError(err, 'ERR_BLOB_TOO_LARGE')) return { oversize: errorMessage(err) };
      return { failed: errorMessage(err) };
    }
  }

  /**
   * A copy at `holder` from `offset` on, unverified (the caller hashes the whole shard): this node's store (or kubo)
   * in one piece, a peer's as its stream arrives. Missing: ERR_SHARD_MISSING.
   */
  async *read(holder: string, ref: ContentRef, offset: number, maxBytes: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    if (holder !== this.self) {
      yield* this.transport.read(holder, ref.sha256, offset, maxBytes, signal);
      return;
    }
    const st = await this.local.stat(ref.sha256);
    if (st) {
      if (st.size > maxBytes)
        throw new MagnetError('ERR_BLOB_TOO_LARGE', `the local copy of ${ref.sha256} has ${st.size} bytes, ${maxBytes} expected`);
      yield* this.local.read(ref.sha256, offset); // hash-checked by the caller, like any holder's
      return;
    }
    const bytes = this.kubo ? await this.kubo.get(ref).catch(() => undefined) : undefined;
    if (!bytes) throw new MagnetError('ERR_SHARD_MISSING', `this node has no copy of ${ref.sha256}`);
    if (bytes.length > maxBytes)
      throw new MagnetError('ERR_BLOB_TOO_LARGE', `kubo's copy of ${ref.sha256} has ${bytes.length} bytes, ${maxBytes} expected`);
    yield bytes.subarray(offset);
  }

  /** Stores a copy on `holder` (this node: its own store; a peer: under `placement`), from bytes or a file. */
  async place(holder: string, ref: ContentRef, src: ShardSource, placement: Placement): Promise<void> {
    if (holder !== this.self) await this.transport.put(holder, ref.sha256, src, placement);
    else if (src instanceof Uint8Array) await this.local.put(src);
    else await this.local.putFile(src.file, ref);
  }

  async has(holder: string, ref: ContentRef): Promise<boolean> {
    if (holder === this.self) return this.local.has(ref);
    return this.transport.has(holder, ref.sha256);
  }

  /** Holders ordered fastest first (this node first: no network), unknown ones before slow ones. */
  rank(holders: Iterable<string>): string[] {
    const unique = [...new Set(holders)];
    const cost = (h: string) => (h === this.self ? -1 : (this.speed.get(h) ?? 0));
    return unique.sort((a, b) => cost(a) - cost(b));
  }

  /** Remembers a transfer's speed (ms per MiB, smoothed) for rank(). */
  note(holder: string, bytes: number, ms: number): void {
    const perMiB = ms / Math.max(bytes / (1 << 20), 1 / 64);
    const old = this.speed.get(holder);
    this.speed.set(holder, old === undefined ? perMiB : old * 0.7 + perMiB * 0.3);
  }
}
