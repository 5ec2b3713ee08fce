/**
 * Catch-up: a node that holds nothing of a checkpoint-sized blob fetches it k-of-n from 5 holders, against the same
 * bytes fetched whole from 1 holder, both through `blob get` (same code: manifest, shards streamed to files, every
 * piece and the blob hash-checked). 6 real daemons on loopback: the first 5 store the blob (RS(4,2), 3 copies of each
 * shard over 5 holders; and one uncoded copy on one peer), then the 6th joins and reads both.
 *
 * Env: MAGNET_BENCH_BLOB_MIB (256).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { sha256File } from '../../daemon/src/util/hash.js';
import { type RunningDaemon, membersArgs, prepareHomes, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';

const BENCH_NODE = fileURLToPath(new URL('../helpers/bench-node.js', import.meta.url));
const MiB = 1 << 20;

export async function run(): Promise<void> {
  const size = Number(process.env['MAGNET_BENCH_BLOB_MIB'] ?? 256) * MiB;
  const env = testEnv({
    MAGNET_HEARTBEAT: '1',
    MAGNET_REPAIR_INTERVAL_MS: '600000',
    MAGNET_STORAGE_MAX_BLOB_BYTES: String(4 * size + MiB),
  });
  const work = mkdtempSync(join(tmpdir(), 'magnet-bench-catchup-'));
  const daemons: RunningDaemon[] = [];
  try {
    const homes = await prepareHomes(6);
    const members = membersArgs(homes);
    const d1 = await startDaemon({ env, home: homes[0]!.home, args: [...members, '--log-level', 'warn'], entry: [BENCH_NODE] });
    daemons.push(d1);
    const boot = (await d1.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0]!;
    const start = (i: number) => startDaemon({ env, home: homes[i]!.home, args: [...members, '--bootstrap', boot, '--log-level', 'warn'] });
    daemons.push(...(await Promise.all([1, 2, 3, 4].map(start))));
    const live = (d: RunningDaemon, n: number) =>
      waitFor(
        async () => (await d.get<{ storage: { holders: { live: number } } }>('/status')).storage.holders.live === n,
        30_000,
        `${n} live storage nodes`,
      );
    for (const d of daemons) await live(d, 5);

    const input = join(work, 'blob.bin');
    writeFileSync(input, Buffer.alloc(0));
    for (let off = 0; off < size; off += 16 * MiB) writeFileSync(input, randomBytes(Math.min(16 * MiB, size - off)), { flag: 'a' });
    const post = async <T>(path: string): Promise<T> => {
      const res = await d1.fetch(path, {
        method: 'POST',
        body: Readable.toWeb(createReadStream(input, { highWaterMark: 4 * MiB })) as ReadableStream,
        headers: { 'content-type': 'application/octet-stream' },
        duplex: 'half',
      } as RequestInit);
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const coded = await post<{ id: string; holders: string[][] }>('/storage/blobs');
    const whole = await post<{ manifestId: string; peers: string[] }>('/bench/plain-copy?copies=1');
    const holders = new Set(coded.holders.flat()).size;

    // The newcomer joins after the puts: it holds nothing and reads everything from the others.
    const d6 = await start(5);
    daemons.push(d6);
    await live(d6, 6);
    const get = async (id: string, name: string): Promise<number> => {
      const out = join(work, name);
      const t0 = performance.now();
      const res = await d6.fetch(`/storage/blobs/content?id=${id}`);
      if (!res.ok || !res.body) throw new Error(`blob get ${id}: ${res.status} ${await res.text()}`);
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(out));
      const ms = performance.now() - t0;
      if ((await sha256File(out)) !== (await sha256File(input))) throw new Error(`${name}: different bytes`);
      rmSync(out);
      return ms;
    };
    // Alternated, twice each, so neither one always runs on a warmer machine.
    const kofn: number[] = [];
    const one: number[] = [];
    for (let i = 0; i < 2; i++) {
      kofn.push(await get(coded.id, `kofn-${i}`));
      one.push(await get(whole.manifestId, `one-${i}`));
    }
    const best = (xs: number[]) => Math.min(...xs);
    const mb = (ms: number) => `${ms.toFixed(0)} ms (${(size / 1e6 / (ms / 1000)).toFixed(0)} MB/s)`;
    console.log(`6 daemons on loopback, blob ${size / MiB} MiB; the reader joined after the puts and holds nothing:`);
    console.log(`  k-of-n from ${holders} holders (RS(4,2), 3 copies)   best of 2: ${mb(best(kofn))}`);
    console.log(`  whole from 1 holder (${whole.peers[0]})   best of 2: ${mb(best(one))}`);
    console.log(`  ratio: 1 holder / k-of-n ${(best(one) / best(kofn)).toFixed(2)}x (above 1: k-of-n is faster)`);
  } finally {
    for (const d of daemons) await d.kill();
    rmSync(work, { recursive: true, force: true });
  }
}
