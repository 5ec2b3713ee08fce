/**
 * End-to-end storage across 4 real daemons on loopback (gRPC data plane, TLS, signed calls): `blob put` of one
 * blob (MAGNET_BENCH_BLOB_MIB, default 256; the figure is 1024) on the first daemon and `blob get` on the
 * third, against the same file sent uncoded over the same data plane in the same run (one copy to one peer and
 * back, and 3 copies to 3 peers = plain 3x replication). Stored bytes are counted from the manifest.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { sha256File } from '../../daemon/src/util/hash.js';
import {
  CLI,
  type RunningDaemon,
  membersArgs,
  prepareHomes,
  resetPeakMemory,
  residentMemory,
  startDaemon,
  testEnv,
  waitFor,
} from '../helpers/daemon.js';

/** The node with the bench-only plain-copy route (test/helpers/bench-node.ts). */
const BENCH_NODE = fileURLToPath(new URL('../helpers/bench-node.js', import.meta.url));

const exec = promisify(execFile);
const MiB = 1 << 20;

export async function run(): Promise<void> {
  const size = Number(process.env['MAGNET_BENCH_BLOB_MIB'] ?? 256) * MiB;
  const env = testEnv({
    MAGNET_HEARTBEAT: '1',
    MAGNET_REPAIR_INTERVAL_MS: '600000',
    MAGNET_STORAGE_MAX_BLOB_BYTES: String(4 * size + MiB),
  });
  const work = mkdtempSync(join(tmpdir(), 'magnet-bench-storage-'));
  const daemons: RunningDaemon[] = [];
  try {
    // The four are the network's members: shards are only placed on members.
    const homes = await prepareHomes(4);
    const members = membersArgs(homes);
    const d1 = await startDaemon({ env, home: homes[0]!.home, args: [...members, '--log-level', 'warn'], entry: [BENCH_NODE] });
    daemons.push(d1);
    const boot = (await d1.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0]!;
    daemons.push(
      ...(await Promise.all(
        [1, 2, 3].map((i) => startDaemon({ env, home: homes[i]!.home, args: [...members, '--bootstrap', boot, '--log-level', 'warn'] })),
      )),
    );
    for (const d of daemons)
      await waitFor(
        async () => (await d.get<{ storage: { holders: { live: number } } }>('/status')).storage.holders.live === 4,
        30_000,
        '4 live storage nodes',
      );
    const cli = async (d: RunningDaemon, ...args: string[]) =>
      (await exec(process.execPath, [CLI, ...args, '--home', d.home], { env, maxBuffer: 1 << 24 })).stdout;
    // The file streamed as the body, as `blob put` sends it.
    const post = async <T>(d: RunningDaemon, path: string, file: string): Promise<T> => {
      const res = await d.fetch(path, {
        method: 'POST',
        body: Readable.toWeb(createReadStream(file, { highWaterMark: 4 * MiB })) as ReadableStream,
        headers: { 'content-type': 'application/octet-stream' },
        duplex: 'half',
      } as RequestInit);
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };

    const input = join(work, 'blob.bin');
    const out = join(work, 'blob.out');
    // Fresh random bytes throughout: repeated chunks would make equal shards, which the stores keep once.
    writeFileSync(input, Buffer.alloc(0));
    for (let off = 0; off < size; off += 16 * MiB) writeFileSync(input, randomBytes(Math.min(16 * MiB, size - off)), { flag: 'a' });
    const mb = (ms: number) => `${ms.toFixed(0)} ms (${(size / 1e6 / (ms / 1000)).toFixed(0)} MB/s)`;

    // The daemons' HTTP routes, as `blob put` and `blob get` call them (no CLI start-up in the figures).
    const [pid1, pid3] = [d1.proc.pid!, daemons[2]!.proc.pid!];
    resetPeakMemory(pid1);
    const rss1 = residentMemory(pid1).rss;
    const t0 = performance.now();
    const put = await post<{ id: string; holders: string[][] }>(d1, '/storage/blobs', input);
    const putMs = performance.now() - t0;
    const putPeak = residentMemory(pid1).peak;
    resetPeakMemory(pid3);
    const rss3 = residentMemory(pid3).rss;
    const t1 = performance.now();
    const got = await daemons[2]!.fetch(`/storage/blobs/content?id=${put.id}`);
    if (!got.ok || !got.body) throw new Error(`blob get: ${got.status} ${await got.text()}`);
    await pipeline(Readable.fromWeb(got.body as import('node:stream/web').ReadableStream), createWriteStream(out));
    const getMs = performance.now() - t1;
    const getPeak = residentMemory(pid3).peak;
    await cli(daemons[2]!, 'blob', 'status', put.id); // the CLI answers for the same blob
    if ((await sha256File(out)) !== (await sha256File(input))) throw new Error('blob get returned different bytes');
    const copies = put.holders.reduce((n, h) => n + h.length, 0);
    const stored = (copies * Math.ceil(size / 4)) / size;

    const one = await post<{ putMs: number; getMs: number }>(d1, '/bench/plain-copy?copies=1', input);
    const three = await post<{ putMs: number; getMs: number }>(d1, '/bench/plain-copy?copies=3', input);

    console.log(`4 daemons on loopback, blob ${size / MiB} MiB, RS(4,2), replica target 3:`);
    console.log(
      `  blob put (d1)              ${mb(putMs)}; stores ${copies} shard copies = ${stored.toFixed(2)}x the blob (3x replication: 3.00x, ratio ${(stored / 3).toFixed(2)})`,
    );
    console.log(`  blob get (d3)              ${mb(getMs)}`);
    const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
    console.log(
      `  daemon peak RSS: put ${mib(putPeak)} (${mib(putPeak - rss1)} over its ${mib(rss1)} before), get ${mib(getPeak)} (${mib(getPeak - rss3)} over ${mib(rss3)}); the blob is ${mib(size)}`,
    );
    console.log(`  plain copy to 1 peer      ${mb(one.putMs)}; read back ${mb(one.getMs)}`);
    console.log(`  plain copy to 3 peers     ${mb(three.putMs)} (3x replication, no coding)`);
    console.log(
      `  ratios: put / 1-peer copy ${(putMs / one.putMs).toFixed(2)}x, put / 3-peer copy ${(putMs / three.putMs).toFixed(2)}x, get / read back ${(getMs / one.getMs).toFixed(2)}x`,
    );
  } finally {
    for (const d of daemons) await d.kill();
    rmSync(work, { recursive: true, force: true });
  }
}
