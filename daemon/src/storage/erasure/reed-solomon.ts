import { MagnetError } from '../../util/errors.js';
import { defaultShardCodec } from './choose-codec.js';
import type { ShardCodec } from './shard-codec.js';
import { checkShardCounts } from './wasm-codec.js';

/**
 * Systematic Reed-Solomon over GF(2^8) (poly 0x11D, Vandermonde-derived matrix), byte-compatible with
 * klauspost/reedsolomon and the Rust reed-solomon-erasure crate, over the codec this process chose (native SIMD
 * off the event loop, or wasm).
 */
export class ReedSolomon {
  constructor(
    readonly k: number,
    readonly m: number,
    private readonly codec: ShardCodec = defaultShardCodec(),
  ) {
    checkShardCounts(k, m);
  }

  /** Splits a blob into k equal data shards (the last zero-padded); the blob size must be kept to join them. */
  split(blob: Uint8Array): Uint8Array[] {
    const size = shardSizeFor(blob.length, this.k);
    const shards: Uint8Array[] = [];
    for (let i = 0; i < this.k; i++) {
      const shard = new Uint8Array(size);
      shard.set(blob.subarray(Math.min(i * size, blob.length), Math.min((i + 1) * size, blob.length)));
      shards.push(shard);
    }
    return shards;
  }

  join(data: Uint8Array[], size: number): Uint8Array {
    const out = new Uint8Array(size);
    let off = 0;
    for (const shard of data.slice(0, this.k)) {
      const n = Math.min(shard.length, size - off);
      out.set(shard.subarray(0, n), off);
      off += n;
    }
    if (off !== size) throw new MagnetError('ERR_RS_JOIN', `the data shards hold ${off} bytes, the blob has ${size}`);
    return out;
  }

  get codecName(): string {
    return this.codec.name;
  }

  /** The m parity shards of k equal-length data shards. */
  async encode(data: Uint8Array[]): Promise<Uint8Array[]> {
    const size = this.checkShards(data, this.k, 'data');
    const parity = Array.from({ length: this.m }, () => new Uint8Array(size));
    await this.codec.encode(this.k, this.m, data, parity);
    return parity;
  }

  /** Parity of one window: fills `parity` (m equal-length buffers) from `data` (k of the same length), in place. */
  async encodeInto(data: Uint8Array[], parity: Uint8Array[]): Promise<void> {
    const size = this.checkShards(data, this.k, 'data');
    this.checkShards(parity, this.m, 'parity');
    if (parity[0]!.length !== size) throw new MagnetError('ERR_RS_SHARDS', 'parity and data windows differ in length');
    await this.codec.encode(this.k, this.m, data, parity);
  }

  /** One window: fills every shard whose flag is false from the present ones (at least k), in place. */
  async reconstructInto(shards: Uint8Array[], present: readonly boolean[]): Promise<void> {
    this.checkShards(shards, this.k + this.m, 'window');
    const count = present.filter(Boolean).length;
    if (count < this.k)
      throw new MagnetError('ERR_RS_TOO_FEW', `only ${count} of ${this.k + this.m} shards present; at least ${this.k} are needed`);
    if (count < this.k + this.m) await this.codec.reconstruct(this.k, this.m, shards, [...present]);
  }

  /** Rebuilds every missing shard (undefined entries) from any k present ones. Returns all k+m shards. */
  async reconstruct(shards: ReadonlyArray<Uint8Array | undefined>): Promise<Uint8Array[]> {
    if (shards.length !== this.k + this.m)
      throw new MagnetError('ERR_RS_SHARDS', `expected ${this.k + this.m} shard slots, got ${shards.length}`);
    const present = shards.map((s) => s !== undefined);
    const count = present.filter(Boolean).length;
    if (count < this.k)
      throw new MagnetError(
        'ERR_RS_TOO_FEW',
        `only ${count} of ${this.k + this.m} shards present; at least ${this.k} are needed to rebuild`,
        { present: count, k: this.k },
      );
    const size = this.checkShards(
      shards.filter((s): s is Uint8Array => s !== undefined),
      count,
      'present',
    );
    const out = shards.map((s) => s ?? new Uint8Array(size));
    if (count < this.k + this.m) await this.codec.reconstruct(this.k, this.m, out, present);
    return out;
  }

  private checkShards(shards: Uint8Array[], n: number, what: string): number {
    if (shards.length !== n) throw new MagnetError('ERR_RS_SHARDS', `expected ${n} ${what} shards, got ${shards.length}`);
    const size = shards[0]!.length;
    if (size === 0) throw new MagnetError('ERR_RS_SHARDS', 'shards must not be empty');
    if (shards.some((s) => s.length !== size))
      throw new MagnetError('ERR_RS_SHARDS', `${what} shards differ in length (all must be ${size} bytes)`);
    return size;
  }
}

/** Shard size for a blob: ceil(size / k), at least 1 byte (an empty blob still gets k one-byte shards). */
export function shardSizeFor(blobSize: number, k: number): number {
  return Math.max(1, Math.ceil(blobSize / k));
}
