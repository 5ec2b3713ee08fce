import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { MagnetError } from '../../util/errors.js';
import type { ShardCodec } from './shard-codec.js';

/**
 * The raw codec: the Rust `reed-solomon-erasure` crate (klauspost/Backblaze matrix, GF(2^8) poly 0x11D) compiled
 * to wasm by @subspace/reed-solomon-erasure.wasm. It works on one contiguous buffer of k+m equal shards.
 */
export interface RawCodec {
  readonly name: string;
  /** Fills the m parity shards of `buf` ((k+m) * shardSize bytes) from its k data shards. */
  encode(buf: Uint8Array, k: number, m: number): void;
  /** Rebuilds the missing data shards of `buf` in place (parity shards are left as they are). */
  reconstructData(buf: Uint8Array, k: number, m: number, present: boolean[]): void;
}

export const MAX_TOTAL_SHARDS = 256;

/** Checks k and m before they reach the wasm, where a bad value traps the whole instance. */
export function checkShardCounts(k: number, m: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 1 || k + m > MAX_TOTAL_SHARDS) {
    throw new MagnetError(
      'ERR_RS_PARAMS',
      `bad Reed-Solomon parameters K=${k}, M=${m}: K and M must be integers >= 1 with K+M <= ${MAX_TOTAL_SHARDS}`,
      { k, m },
    );
  }
}

const RESULT_NAMES: Record<number, string> = {
  1: 'too few shards',
  2: 'too many shards',
  9: 'incorrect shard size',
  10: 'too few shards present',
  11: 'empty shard',
  12: 'invalid shard flags',
};

/** The slice of the WebAssembly API we use (the project's TS lib settings do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (mod: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface RsExports {
  memory: { buffer: ArrayBuffer };
  encode(ptr: number, len: number, k: number, m: number): number;
  reconstruct(ptr: number, len: number, k: number, m: number, flagsPtr: number, flagsLen: number): number;
  __wbindgen_malloc(len: number): number;
}

let compiled: object | undefined;

/**
 * The codec over the package's wasm file, called through its raw exports. The package's JS wrapper keeps one
 * instance for the process, and the wee_alloc heap inside it corrupts itself: the second `reconstruct` on one
 * instance reports "too few shards present" or traps (measured here). So every call gets a fresh instance of
 * the module compiled once; instantiation costs well under a millisecond beside the coding itself.
 */
export function subspaceCodec(): RawCodec {
  if (!compiled) {
    const require = createRequire(import.meta.url);
    const wasmFile = join(dirname(require.resolve('@subspace/reed-solomon-erasure.wasm')), 'reed_solomon_erasure_bg.wasm');
    compiled = new wasm.Module(readFileSync(wasmFile));
  }
  const mod = compiled;
  const run = (what: string, buf: Uint8Array, k: number, m: number, present?: boolean[]): void => {
    checkShardCounts(k, m);
    const ex = new wasm.Instance(mod).exports as unknown as RsExports;
    const ptr = ex.__wbindgen_malloc(buf.length);
    const flags = present ? ex.__wbindgen_malloc(present.length) : 0;
    const mem = new Uint8Array(ex.memory.buffer);
    mem.set(buf, ptr);
    if (present)
      mem.set(
        present.map((p) => (p ? 1 : 0)),
        flags,
      );
    const result = present ? ex.reconstruct(ptr, buf.length, k, m, flags, present.length) : ex.encode(ptr, buf.length, k, m);
    if (result !== 0)
      throw new MagnetError('ERR_RS_CODEC', `Reed-Solomon ${what} failed: ${RESULT_NAMES[result] ?? `code ${result}`}`, { result });
    buf.set(new Uint8Array(ex.memory.buffer).subarray(ptr, ptr + buf.length));
  };
  return {
    name: '@subspace/reed-solomon-erasure.wasm',
    encode: (buf, k, m) => run('encode', buf, k, m),
    reconstructData: (buf, k, m, present) => run('reconstruct', buf, k, m, present),
  };
}

/** Bytes of each shard processed per wasm call: bounds wasm memory and lets the event loop breathe between calls. */
const SEGMENT = 1 << 20;
/**
 * Smallest segment handed to the wasm: segments come in a few power-of-two sizes, so its heap sees the same few
 * shapes. RS works per byte column, so unused tail columns of a short segment change nothing we keep.
 */
const MIN_SEGMENT = 4096;

/**
 * The wasm codec as a ShardCodec: shards are copied column segment by column segment into one contiguous buffer
 * (RS works per byte position, so segmenting changes nothing in the output), on the event loop, yielding between
 * segments. The fallback when the native addon is not built.
 */
export function wasmShardCodec(raw: RawCodec = subspaceCodec()): ShardCodec {
  /** Calls `fn` per column segment with a buffer of n slots of `seg` bytes each (shard i at i * seg). */
  const segments = async (n: number, size: number, fn: (off: number, len: number, buf: Uint8Array, seg: number) => void) => {
    let seg = MIN_SEGMENT;
    while (seg < size && seg < SEGMENT) seg *= 2;
    const buf = new Uint8Array(seg * n);
    for (let off = 0; off < size; off += seg) {
      fn(off, Math.min(seg, size - off), buf, seg);
      if (off + seg < size) await yieldNow();
    }
  };
  const encode = async (k: number, m: number, data: Uint8Array[], parity: Uint8Array[]): Promise<void> => {
    await segments(k + m, data[0]!.length, (off, len, buf, seg) => {
      for (let i = 0; i < k; i++) buf.set(data[i]!.subarray(off, off + len), i * seg);
      raw.encode(buf, k, m);
      for (let j = 0; j < m; j++) parity[j]!.set(buf.subarray((k + j) * seg, (k + j) * seg + len), off);
    });
  };
  return {
    name: 'wasm',
    encode,
    async reconstruct(k, m, shards, present) {
      // The wasm rebuilds data shards only; lost parity is re-encoded from the rebuilt data.
      if (present.slice(0, k).some((p) => !p)) {
        await segments(k + m, shards[0]!.length, (off, len, buf, seg) => {
          for (let i = 0; i < k + m; i++) if (present[i]) buf.set(shards[i]!.subarray(off, off + len), i * seg);
          raw.reconstructData(buf, k, m, present);
          for (let i = 0; i < k; i++) if (!present[i]) shards[i]!.set(buf.subarray(i * seg, i * seg + len), off);
        });
      }
      if (present.slice(k).some((p) => !p)) {
        const parity = Array.from({ length: m }, (_, j) => (present[k + j] ? new Uint8Array(shards[0]!.length) : shards[k + j]!));
        await encode(k, m, shards.slice(0, k), parity);
      }
    },
  };
}
