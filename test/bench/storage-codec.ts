/**
 * Reed-Solomon K=4, M=2 candidates, single thread (= per core), 1 MiB and 16 MiB shards, beside a plain copy of
 * the same bytes measured in the same run:
 *  - ours, native: ReedSolomon over the addon's SIMD codec (what the storage part runs when the addon is built;
 *    per-path figures against memcpy come from `magnet_bench erasure`, in `npm run bench:native`);
 *  - ours, wasm: ReedSolomon over @subspace/reed-solomon-erasure.wasm (segmented, fresh wasm instance per call: the
 *    fallback without the addon);
 *  - subspace raw: the same wasm called once on the whole (k+m) * shard buffer;
 *  - bare `reed-solomon-erasure` wasm (no allocator: our buffer placed above its initial memory);
 *  - @bnb-chain/reed-solomon (pure JS, encode only: it has no reconstruct).
 * MB/s counts the K data shards' bytes (the blob), in and out of the codec included. Every candidate's parity is
 * compared with ours, and every decode with the lost shards, so a fast but wrong candidate shows as wrong.
 * Then repair time: a 64 MiB blob on 7 in-process storage nodes (one copy per shard), two holders killed,
 * one repair round (fetch any 4, rebuild, place 2) against copying the 2 lost shards' bytes between two stores.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Cluster } from '../helpers/cluster-harness.js';
import { nativeShardCodec } from '../../daemon/src/storage/erasure/native-codec.js';
import { ReedSolomon } from '../../daemon/src/storage/erasure/reed-solomon.js';
import { subspaceCodec, wasmShardCodec } from '../../daemon/src/storage/erasure/wasm-codec.js';

const K = 4;
const M = 2;
const MiB = 1 << 20;
const require = createRequire(import.meta.url);
/** MAGNET_BENCH_QUICK=1: tiny sizes, a smoke run of the bench code itself (figures meaningless). */
const QUICK = process.env['MAGNET_BENCH_QUICK'] === '1';

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (mod: object, imports: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface Candidate {
  name: string;
  encode(data: Uint8Array[]): Uint8Array[] | Promise<Uint8Array[]>;
  /** Rebuilds all k+m shards with the given indices missing; undefined when the library cannot. */
  decode?(shards: (Uint8Array | undefined)[]): Uint8Array[] | Promise<Uint8Array[]>;
}

/** Packs shards into one buffer of (k+m) slots, as the raw wasm codecs want. */
function pack(shards: (Uint8Array | undefined)[], size: number, into: Uint8Array): void {
  shards.forEach((s, i) => s && into.set(s, i * size));
}
function unpack(buf: Uint8Array, size: number, n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => buf.slice(i * size, (i + 1) * size));
}

function ours(): Candidate[] {
  const out: Candidate[] = [];
  try {
    const rs = new ReedSolomon(K, M, nativeShardCodec());
    out.push({ name: `ours, ${rs.codecName}`, encode: (d) => rs.encode(d), decode: (s) => rs.reconstruct(s) });
  } catch (err) {
    console.log(`(no native codec: ${(err as Error).message})`);
  }
  const wasm = new ReedSolomon(K, M, wasmShardCodec());
  out.push({ name: 'ours, wasm (segmented)', encode: (d) => wasm.encode(d), decode: (s) => wasm.reconstruct(s) });
  return out;
}

function subspaceRaw(): Candidate {
  const codec = subspaceCodec();
  return {
    name: 'subspace wasm, one call',
    encode(data) {
      const size = data[0]!.length;
      const buf = new Uint8Array(size * (K + M));
      pack(data, size, buf);
      codec.encode(buf, K, M);
      return unpack(buf, size, K + M).slice(K);
    },
    decode(shards) {
      const size = shards.find((s) => s)!.length;
      const buf = new Uint8Array(size * (K + M));
      pack(shards, size, buf);
      codec.reconstructData(
        buf,
        K,
        M,
        shards.map((s) => s !== undefined),
      );
      const out = unpack(buf, size, K + M);
      codec.encode(buf, K, M); // parity rebuilt by re-encoding, as ours does
      return out.map((s, i) => (i < K ? s : buf.slice(i * size, (i + 1) * size)));
    },
  };
}

/** The bare `reed-solomon-erasure` wasm: raw exports, a fresh instance per call, our buffer above its memory. */
function bareWasm(): Candidate {
  const mod = new wasm.Module(readFileSync(join(dirname(require.resolve('reed-solomon-erasure')), 'reed_solomon_erasure_bg.wasm')));
  type Ex = {
    memory: { buffer: ArrayBuffer; grow(pages: number): number };
    encode(p: number, s: number, k: number, m: number): number;
    reconstruct(p: number, s: number, k: number, m: number, a: number): number;
  };
  const call = (shards: (Uint8Array | undefined)[], size: number, fn: (ex: Ex, ptr: number, flags: number) => number): Uint8Array[] => {
    const ex = new wasm.Instance(mod, {}).exports as Ex;
    const ptr = ex.memory.buffer.byteLength;
    const need = size * (K + M) + K + M;
    ex.memory.grow(Math.ceil(need / 65536) + 1);
    const mem = new Uint8Array(ex.memory.buffer);
    pack(shards, size, mem.subarray(ptr));
    const flags = ptr + size * (K + M);
    shards.forEach((s, i) => (mem[flags + i] = s ? 1 : 0));
    const rc = fn(ex, ptr, flags);
    if (rc !== 0) throw new Error(`bare wasm returned ${rc}`);
    return unpack(new Uint8Array(ex.memory.buffer).subarray(ptr), size, K + M);
  };
  return {
    name: 'reed-solomon-erasure (bare wasm)',
    encode: (data) => call(data, data[0]!.length, (ex, p) => ex.encode(p, data[0]!.length, K, M)).slice(K),
    decode(shards) {
      const size = shards.find((s) => s)!.length;
      const out = call(shards, size, (ex, p, f) => ex.reconstruct(p, size, K, M, f));
      const parity = call(out.slice(0, K), size, (ex, p) => ex.encode(p, size, K, M));
      return out.map((s, i) => (i < K ? s : parity[i]!));
    },
  };
}

function bnb(): Candidate {
  const { ReedSolomon: Bnb } = require('@bnb-chain/reed-solomon') as {
    ReedSolomon: new (k: number, m: number, seg: number) => { encodeSegment(d: Uint8Array): Uint8Array[] };
  };
  return {
    name: '@bnb-chain/reed-solomon (JS)',
    encode(data) {
      const size = data[0]!.length;
      const rs = new Bnb(K, M, size * K);
      const joined = new Uint8Array(size * K);
      pack(data, size, joined);
      return rs.encodeSegment(joined).slice(K);
    },
  };
}

const same = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Median ms of `reps` runs after one warm-up. */
async function time(reps: number, fn: () => unknown): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
}

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

async function codecs(): Promise<void> {
  const candidates = [...ours(), subspaceRaw(), bareWasm(), bnb()];
  for (const shardSize of QUICK ? [64 * 1024, 256 * 1024] : [1 * MiB, 16 * MiB]) {
    const reps = QUICK ? 2 : shardSize > MiB ? 3 : 9;
    const data = Array.from({ length: K }, () => randomBytes(shardSize) as Uint8Array);
    const bytes = K * shardSize;
    // Reference: a plain copy of the same K shards into fresh buffers.
    const copyMs = await time(reps, () => data.map((d) => Uint8Array.prototype.slice.call(d)));
    const copy = mbps(bytes, copyMs);
    console.log(`\nK=${K} M=${M}, shard ${shardSize / MiB} MiB (blob ${bytes / MiB} MiB): plain copy ${copy.toFixed(0)} MB/s`);
    const want = await new ReedSolomon(K, M, wasmShardCodec()).encode(data);
    const lost = [0, 1]; // worst case: two data shards, both need decoding
    const damaged: (Uint8Array | undefined)[] = [...data, ...want].map((s, i) => (lost.includes(i) ? undefined : s));
    for (const c of candidates) {
      let parity: Uint8Array[] = [];
      const encMs = await time(reps, async () => (parity = await c.encode(data)));
      const encOk = parity.length === M && parity.every((p, j) => same(p, want[j]!));
      let dec = 'n/a (no reconstruct)';
      if (c.decode) {
        let out: Uint8Array[] = [];
        const decMs = await time(reps, async () => (out = await c.decode!(damaged)));
        const decOk = lost.every((i) => same(out[i]!, data[i]!));
        dec = `${mbps(bytes, decMs).toFixed(0)} MB/s (${(mbps(bytes, decMs) / copy).toFixed(3)}x copy)${decOk ? '' : ' WRONG'}`;
      }
      const enc = mbps(bytes, encMs);
      console.log(
        `  ${c.name.padEnd(34)} encode ${enc.toFixed(0).padStart(5)} MB/s (${(enc / copy).toFixed(3)}x copy)${encOk ? ' parity = klauspost' : ' PARITY DIFFERS'}; decode 2 lost ${dec}`,
      );
    }
  }
}

async function repair(): Promise<void> {
  const size = (QUICK ? 4 : 64) * MiB;
  // Repairs uncapped here (the default cap, storage.repairBytesPerSec, would set the time by itself).
  const c = await Cluster.create(7, { replicas: 1, repairBytesPerSec: 2 ** 40 });
  try {
    const owner = c.nodes[0]!;
    const blob = randomBytes(size);
    const t0 = performance.now();
    const put = await owner.service.put(blob);
    const putMs = performance.now() - t0;
    // Stored bytes: every copy of every shard, against 3 full copies (3x replication) of the same blob.
    const stored = put.manifest.shards.reduce((n, s) => n + put.manifest.shardSize * s.holders.length, 0);
    const peers = [...new Set(put.manifest.shards.flatMap((s) => s.holders))].filter((h) => h !== owner.service.self);
    const lostShards = put.manifest.shards.filter((s) => s.holders.includes(peers[0]!) || s.holders.includes(peers[1]!));
    c.kill(peers[0]!);
    c.kill(peers[1]!);
    const t1 = performance.now();
    const report = await owner.repairer.round();
    const repairMs = performance.now() - t1;
    if (report.shardsRebuilt !== lostShards.length) throw new Error(`rebuilt ${report.shardsRebuilt} shards, lost ${lostShards.length}`);
    // Reference: moving the same lost bytes from one store to another without coding.
    const from = c.nodes[0]!.local;
    const to = c.nodes[6]!.local;
    const refs = await Promise.all(lostShards.map(() => from.put(randomBytes(put.manifest.shardSize))));
    const t2 = performance.now();
    for (const r of refs) await to.put((await from.get(r))!);
    const copyMs = performance.now() - t2;
    console.log(`\nrepair, ${size / MiB} MiB blob, RS(4,2), 1 copy per shard on 7 in-process nodes:`);
    console.log(
      `  bytes stored ${(stored / MiB).toFixed(1)} MiB = ${(stored / size).toFixed(2)}x the blob; 3x replication stores ${(3 * size) / MiB} MiB: ratio ${(stored / (3 * size)).toFixed(2)}`,
    );
    console.log(`  put ${putMs.toFixed(0)} ms (${mbps(size, putMs).toFixed(0)} MB/s)`);
    console.log(
      `  2 holders killed, ${lostShards.length} shards lost: repair round ${repairMs.toFixed(0)} ms (rebuilt ${report.shardsRebuilt}, ${(report.bytesMoved / MiB).toFixed(0)} MiB moved); plain copy of the ${lostShards.length} lost shards' bytes ${copyMs.toFixed(0)} ms: ratio ${(repairMs / copyMs).toFixed(2)}x`,
    );
  } finally {
    await c.destroy();
  }
}

export async function run(): Promise<void> {
  await codecs();
  await repair();
}
