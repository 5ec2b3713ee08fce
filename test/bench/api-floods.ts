/**
 * What HTTP floods cost a real daemon: its resident memory (VmRSS) and home directory size while idle, then after
 * each flood, as ratios against the idle figures measured in the same run. Each flood is refused before any handler
 * runs: admin calls without the token carrying 1 MiB bodies, cross-site simple POSTs, public calls with a wrong API
 * key, one key past its rate, and an authenticated upload larger than storage.maxBlobBytes.
 *
 * Env: MAGNET_BENCH_FLOOD_REQUESTS (4000 per flood), MAGNET_BENCH_FLOOD_CONCURRENCY (32).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningDaemon, startDaemon, tempHome, testEnv } from '../helpers/daemon.js';

const MiB = 1 << 20;

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

const diskBytes = (dir: string): number => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);

/** Sends `n` requests, `concurrency` at a time; counts answers by status. */
async function flood(
  n: number,
  concurrency: number,
  send: () => Promise<Response>,
): Promise<{ codes: Record<string, number>; perSec: number }> {
  const codes: Record<string, number> = {};
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const key = await send()
          .then(async (r) => {
            await r.arrayBuffer().catch(() => undefined);
            return String(r.status);
          })
          .catch(() => 'reset');
        codes[key] = (codes[key] ?? 0) + 1;
      }
    }),
  );
  return { codes, perSec: n / ((performance.now() - t0) / 1000) };
}

export async function run(): Promise<void> {
  const n = Number(process.env['MAGNET_BENCH_FLOOD_REQUESTS'] ?? 4000);
  const conc = Number(process.env['MAGNET_BENCH_FLOOD_CONCURRENCY'] ?? 32);
  const work = tempHome('magnet-bench-floods-');
  const KEY = 'bench-key-0123456789abcdef';
  writeFileSync(join(work, 'keys'), `bench ${KEY}\n`);
  let d: RunningDaemon | undefined;
  try {
    d = await startDaemon({
      args: ['--api-keys', join(work, 'keys'), '--log-level', 'warn'],
      env: testEnv({ MAGNET_STORAGE_MAX_BLOB_BYTES: String(8 * MiB) }),
    });
    const daemon = d;
    const pid = daemon.proc.pid as number;
    await new Promise((r) => setTimeout(r, 3000));
    const idle = { rss: rssBytes(pid), disk: diskBytes(daemon.home) };
    console.log(
      `daemon idle: RSS ${(idle.rss / MiB).toFixed(1)} MiB, home ${(idle.disk / MiB).toFixed(2)} MiB; ${n} requests per flood, ${conc} at a time`,
    );
    const body = Buffer.alloc(MiB, 7);
    const floods: [string, () => Promise<Response>][] = [
      [
        'admin, no token, 1 MiB bodies',
        () => fetch(`${daemon.url}/storage/blobs`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } }),
      ],
      [
        'admin, cross-site text/plain POST',
        () =>
          fetch(`${daemon.url}/storage/blobs`, {
            method: 'POST',
            body: '{"path":"/etc/passwd"}',
            headers: { 'content-type': 'text/plain', origin: 'https://evil.example' },
          }),
      ],
      [
        'public, wrong API key',
        () => fetch(`${daemon.apiUrl}/v1/models`, { headers: { authorization: 'Bearer wrong-key-0123456789abcdef' } }),
      ],
      ['public, one key past its rate', () => fetch(`${daemon.apiUrl}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } })],
    ];
    for (const [name, send] of floods) {
      const r = await flood(n, conc, send);
      const rss = rssBytes(pid);
      console.log(
        `  ${name.padEnd(36)} ${r.perSec.toFixed(0).padStart(6)} req/s, answers ${JSON.stringify(r.codes)}; RSS ${(rss / MiB).toFixed(1)} MiB (${(rss / idle.rss).toFixed(2)}x idle)`,
      );
    }
    // Authenticated uploads over storage.maxBlobBytes (8 MiB): refused by content-length before the body is read.
    const big = Buffer.alloc(64 * MiB, 1);
    const over = await flood(Math.max(8, Math.floor(n / 100)), 4, () =>
      daemon.fetch('/storage/blobs', { method: 'POST', body: big, headers: { 'content-type': 'application/octet-stream' } }),
    );
    const rss = rssBytes(pid);
    console.log(
      `  ${'admin, token, 64 MiB over the limit'.padEnd(36)} answers ${JSON.stringify(over.codes)}; RSS ${(rss / MiB).toFixed(1)} MiB (${(rss / idle.rss).toFixed(2)}x idle)`,
    );
    const disk = diskBytes(daemon.home);
    console.log(`  home after all floods ${(disk / MiB).toFixed(2)} MiB (${(disk / idle.disk).toFixed(2)}x idle)`);
  } finally {
    await d?.stop();
  }
}
