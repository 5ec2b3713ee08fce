import { setImmediate as yieldNow } from 'node:timers/promises';
import { MagnetError } from '../../util/errors.js';
import { type RawCodec, checkShardCounts, subspaceCodec } from './wasm-codec.js';

/** Bytes of each shard processed per codec call: bounds wasm memory and lets the event loop breathe. */
const SEGMENT = 1 << 20;
/**
 * Smallest segment handed to the codec: segments come in a few power-of-two sizes, so the wasm heap sees the same
 * few shapes. RS works per byte column, so unused tail columns of a short segment change nothing we keep.
 */
const MIN_SEGMENT = 4096;

/**
 * Systematic Reed-Solomon over GF(2^8) (poly 0x11D, Vandermonde-derived matrix), byte-compatible with
 * klauspost/reedsolomon and the Rust reed-solomon-erasure crate. Shards are encoded column segment by column
 * segment (RS works per byte position, so segmenting changes nothing in the output).
 */
export class ReedSolomon {
  constructor(
    readonly k: number,
    readonly m: number,
    private readonly codec: RawCodec = subspaceCodec(),
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

  /** The m parity shards of k equal-length data shards. */
  async encode(data: Uint8Array[]): Promise<Uint8Array[]> {
    const size = this.checkShards(data, this.k, 'data');
    const parity = Array.from({ length: this.m }, () => new Uint8Array(size));
    await this.segments(size, (off, len, buf, seg) => {
      for (let i = 0; i < this.k; i++) buf.set(data[i]!.subarray(off, off + len), i * seg);
      this.codec.encode(buf, this.k, this.m);
      for (let j = 0; j < this.m; j++) parity[j]!.set(buf.subarray((this.k + j) * seg, (this.k + j) * seg + len), off);
    });
    return parity;
  }

  /**
   * Rebuilds every missing shard (undefined entries) from any k present ones: the codec rebuilds data shards
   * only, so lost parity is re-encoded from the rebuilt data. Returns all k+m shards.
   */
  async reconstruct(shards: ReadonlyArray<Uint8Array | undefined>): Promise<Uint8Array[]> {
    if (shards.length !== this.k + this.m) throw new MagnetError('ERR_RS_SHARDS', `expected ${this.k + this.m} shard slots, got ${shards.length}`);
    const present = shards.map((s) => s !== undefined);
    const count = present.filter(Boolean).length;
    if (count < this.k) throw new MagnetError('ERR_RS_TOO_FEW', `only ${count} of ${this.k + this.m} shards present; at least ${this.k} are needed to rebuild`, { present: count, k: this.k });
    const size = this.checkShards(shards.filter((s): s is Uint8Array => s !== undefined), count, 'present');
    const out = shards.map((s) => s ?? new Uint8Array(size));
    const dataMissing = present.slice(0, this.k).some((p) => !p);
    if (dataMissing) {
      await this.segments(size, (off, len, buf, seg) => {
        for (let i = 0; i < out.length; i++) if (present[i]) buf.set(out[i]!.subarray(off, off + len), i * seg);
        this.codec.reconstructData(buf, this.k, this.m, present);
        for (let i = 0; i < this.k; i++) if (!present[i]) out[i]!.set(buf.subarray(i * seg, i * seg + len), off);
      });
    }
    if (present.slice(this.k).some((p) => !p)) {
      const parity = await this.encode(out.slice(0, this.k));
      for (let j = 0; j < this.m; j++) if (!present[this.k + j]) out[this.k + j] = parity[j]!;
    }
    return out;
  }

  private checkShards(shards: Uint8Array[], n: number, what: string): number {
    if (shards.length !== n) throw new MagnetError('ERR_RS_SHARDS', `expected ${n} ${what} shards, got ${shards.length}`);
    const size = shards[0]!.length;
    if (size === 0) throw new MagnetError('ERR_RS_SHARDS', 'shards must not be empty');
    if (shards.some((s) => s.length !== size)) throw new MagnetError('ERR_RS_SHARDS', `${what} shards differ in length (all must be ${size} bytes)`);
    return size;
  }

  /** Calls `fn` per column segment with a buffer of k+m slots of `seg` bytes each (shard i at i * seg). */
  private async segments(size: number, fn: (off: number, len: number, buf: Uint8Array, seg: number) => void): Promise<void> {
    let seg = MIN_SEGMENT;
    while (seg < size && seg < SEGMENT) seg *= 2;
    const buf = new Uint8Array(seg * (this.k + this.m));
    for (let off = 0; off < size; off += seg) {
      fn(off, Math.min(seg, size - off), buf, seg);
      if (off + seg < size) await yieldNow();
    }
  }
}

/** Shard size for a blob: ceil(size / k), at least 1 byte (an empty blob still gets k one-byte shards). */
export function shardSizeFor(blobSize: number, k: number): number {
  return Math.max(1, Math.ceil(blobSize / k));
}
