import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import {
  ADVERSARY,
  CLI,
  type PreparedHome,
  type RunningDaemon,
  membersArgs,
  prepareHomes,
  startDaemon,
  tempHome,
  testEnv,
  waitFor,
} from '../helpers/daemon.js';

/**
 * Quotas on what peers send, against real daemons and a real hostile member (the adversary tool, its own key):
 * - a disk at the low-watermark (one member started with a watermark above its real free space): PutBlob refused
 *   (disk_low), the alarm raised (/status, magnet_storage_disk_low, a log line), nothing half-written;
 * - PutBlob of blobs nothing places on the target (probes, then 100 unplaced 4 MiB blobs): refused (not_placed),
 *   nothing staged or kept;
 * - 1000 signed requests a second from the hostile key for 5 s: that key is rate_limited before any signature check,
 *   the other members' heartbeats go on, the nonce store stays small;
 * - a GetBlob answer larger than announced (the hostile holder streams up to 1 GiB past each shard): cut off at the
 *   expected size, memory bounded, the blob still rebuilt from the other shards.
 * RSS (VmRSS) and disk (bytes under the home) of the targets are sampled idle and under each flood and printed.
 */
const run = promisify(execFile);
const env = testEnv({
  MAGNET_HEARTBEAT: '1',
  MAGNET_PEER_STALE: '5',
  MAGNET_HOLDER_STALE_MS: '5000',
  MAGNET_REPAIR_INTERVAL_MS: '2000',
  MAGNET_STORAGE_REPLICAS: '1',
});
const MiB = 1 << 20;

const daemons: RunningDaemon[] = [];
after(async () => {
  for (const d of daemons) await d.kill();
});

interface Status {
  nodeId: string;
  listen: { p2p: string[] };
  net: { peers: { nodeId: string; state: string; lastHeartbeatAgoSeconds: number | null }[]; nonces: { entries: number } | null };
  storage: { holders: { live: number }; disk: { low: boolean; freeBytes: number; lowWatermarkBytes: number; lowSince: number | null } };
}

const cli = async (d: RunningDaemon, ...args: string[]): Promise<string> =>
  (await run(process.execPath, [CLI, ...args, '--home', d.home], { env, maxBuffer: 1 << 24 })).stdout;
const metrics = async (d: RunningDaemon): Promise<string> => (await d.fetch('/metrics')).text();
/** Sum of the samples of `name` whose labels contain every one of `labels`. */
const metric = (text: string, name: string, ...labels: string[]): number =>
  text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.every((x) => l.includes(x)))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);

function rssMiB(d: RunningDaemon): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d.proc.pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

function duMiB(dir: string): number {
  let bytes = 0;
  const walk = (p: string): void => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const f = join(p, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.isFile()) bytes += statSync(f).size;
    }
  };
  if (existsSync(dir)) walk(dir);
  return Math.round((bytes / MiB) * 10) / 10;
}

/** Peak RSS (and the disk at the end) of `d` while `work` runs, sampled every 100 ms. */
async function underLoad<T>(d: RunningDaemon, work: () => Promise<T>): Promise<{ value: T; peakRssMiB: number; diskMiB: number }> {
  let peak = rssMiB(d);
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(d))), 100);
  try {
    const value = await work();
    peak = Math.max(peak, rssMiB(d));
    return { value, peakRssMiB: peak, diskMiB: duMiB(d.home) };
  } finally {
    clearInterval(timer);
  }
}

/** The content files of a node's shard store (every shard and manifest it keeps). */
const storedFiles = (d: RunningDaemon): string[] =>
  existsSync(join(d.home, 'shards'))
    ? readdirSync(join(d.home, 'shards'))
        .filter((x) => /^[0-9a-f]{2}$/.test(x))
        .flatMap((x) => readdirSync(join(d.home, 'shards', x)))
    : [];
const staged = (d: RunningDaemon): string[] => (existsSync(join(d.home, 'incoming')) ? readdirSync(join(d.home, 'incoming')) : []);

const figures: string[] = [];
const note = (line: string): void => {
  figures.push(line);
  console.log(`# ${line}`);
};

let a: RunningDaemon;
let b: RunningDaemon;
let c: RunningDaemon;
let h: RunningDaemon;
let homes: PreparedHome[];
let report: string;
/** The disk-low test's blob (on A and B only): the reference get of the oversize test. */
let firstBlob = '';
const work = tempHome('magnet-quotas-work-');

test('three members start; one of them (C) has its disk below its low-watermark', { timeout: 120_000 }, async () => {
  homes = await prepareHomes(4, 'magnet-quotas-');
  const args = membersArgs(homes);
  a = await startDaemon({ home: homes[0]!.home, env, args });
  daemons.push(a);
  const boot = (await a.get<Status>('/status')).listen.p2p[0] as string;
  b = await startDaemon({ home: homes[1]!.home, env, args: [...args, '--bootstrap', boot] });
  // A watermark of 1 PB: the real disk counts as low.
  c = await startDaemon({
    home: homes[2]!.home,
    env: { ...env, MAGNET_MIN_FREE_BYTES: String(1e15) },
    args: [...args, '--bootstrap', boot],
  });
  daemons.push(b, c);
  for (const d of [a, b, c])
    await waitFor(async () => (await d.get<Status>('/status')).storage.holders.live === 3, 30_000, 'every member to see the two others');
});

test(
  'a disk at the low-watermark: uploads refused (disk_low), alarm raised, nothing half-written; the blob goes elsewhere',
  { timeout: 120_000 },
  async () => {
    const st = await c.get<Status>('/status');
    assert.equal(st.storage.disk.low, true, 'the alarm is up in /status from the start');
    assert.ok(st.storage.disk.lowSince);
    assert.equal(metric(await metrics(c), 'magnet_storage_disk_low'), 1);
    assert.match(c.output(), /disk low: .* below the low-watermark/);
    const idle = { rss: rssMiB(c), disk: duMiB(c.home) };
    const input = join(work, 'disk-low.bin');
    writeFileSync(input, randomBytes(8 * MiB));
    const put = await underLoad(c, async () => (await cli(a, 'blob', 'put', input)).trim());
    const id = put.value;
    firstBlob = id;
    assert.match(id, /^[0-9a-f]{64}$/);
    const refused = metric(await metrics(c), 'magnet_net_refused_total', 'reason="disk_low"');
    assert.ok(refused >= 2, `C refused the manifest and its shards: ${refused}`);
    assert.deepEqual(storedFiles(c), [], 'C keeps nothing');
    assert.deepEqual(staged(c), [], 'C staged nothing');
    const status = JSON.parse(await cli(a, 'blob', 'status', id, '--json')) as { shards: { holders: string[] }[] };
    assert.ok(
      status.shards.every((s) => s.holders.length === 1 && s.holders[0] !== homes[2]!.nodeId),
      'every shard went to another holder',
    );
    note(
      `disk-low node: RSS ${idle.rss} MiB idle, ${put.peakRssMiB} MiB peak while refusing; home ${idle.disk} MiB -> ${put.diskMiB} MiB (${refused} uploads refused)`,
    );
  },
);

test(
  'a hostile member: unplaced blobs refused and never written; 1000 req/s from its key limited while the others heartbeat on',
  { timeout: 240_000 },
  async () => {
    const idle = { rss: rssMiB(a), disk: duMiB(a.home), files: storedFiles(a).length };
    note(`target A idle: RSS ${idle.rss} MiB, home ${idle.disk} MiB`);
    const before = await metrics(a);
    report = join(work, 'report.jsonl');
    const boot = (await a.get<Status>('/status')).listen.p2p[0] as string;
    const args = [...membersArgs(homes), '--bootstrap', boot];
    // Samples A's view of B and C during the attacks: their heartbeats must keep arriving.
    const late: string[] = [];
    const lines = () =>
      existsSync(report)
        ? readFileSync(report, 'utf8')
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [];
    const flood = await underLoad(a, async () => {
      h = await startDaemon({
        home: homes[3]!.home,
        env,
        args,
        entry: [ADVERSARY, '--kind', 'oversize-answers,unplaced-blobs,rpc-flood', '--target', homes[0]!.nodeId, '--report', report],
      });
      daemons.push(h);
      return waitFor(
        async () => {
          const st = await a.get<Status>('/status');
          for (const p of st.net.peers.filter((x) => x.nodeId === homes[1]!.nodeId || x.nodeId === homes[2]!.nodeId))
            if (p.state !== 'live' || (p.lastHeartbeatAgoSeconds ?? 99) > 4)
              late.push(`${p.nodeId} ${p.state} ${p.lastHeartbeatAgoSeconds}s`);
          return lines().find((l) => l['probe'] === 'rpc flood');
        },
        200_000,
        'the adversary to finish its floods',
      );
    });
    const all = lines();
    // The placement probes: each refused with its reason.
    const probes = all.filter((l) => Array.isArray(l['expected']));
    assert.ok(probes.length >= 5, `${probes.length} placement probes`);
    for (const p of probes) assert.ok(p['ok'], `probe "${String(p['probe'])}" got ${String(p['got'])}, expected ${String(p['expected'])}`);
    const putFlood = all.find((l) => l['probe'] === 'unplaced blob flood')?.['answers'] as Record<string, number>;
    // Every one refused: by the placement check, or (on a fast machine, past the per-key burst) by the rate limit first.
    const refusedBlobs = (putFlood['not_placed'] ?? 0) + (putFlood['rate_limited'] ?? 0);
    assert.equal(refusedBlobs, 100, `every unplaced 4 MiB blob refused: ${JSON.stringify(putFlood)}`);
    assert.ok((putFlood['not_placed'] ?? 0) >= 50, `the placement check, not only the limiter, refused them: ${JSON.stringify(putFlood)}`);
    assert.deepEqual(staged(a), [], 'nothing staged');
    // The one blob kept is the hostile member's own manifest (a probe sends it, validly signed, before an unlisted shard).
    assert.ok(storedFiles(a).length <= idle.files + 1, `nothing else kept: ${storedFiles(a).length - idle.files} new files`);
    // The RPC flood: the hostile key limited before the signature check, nobody else.
    const f = flood.value as { sent: number; seconds: number; answers: Record<string, number> };
    const limited = f.answers['rate_limited'] ?? 0;
    assert.ok(limited >= 0.85 * f.sent, `rate_limited ${limited} of ${f.sent}: ${JSON.stringify(f.answers)}`);
    assert.ok((f.answers['accepted'] ?? 0) <= 60 + 20 * (f.seconds + 2), `accepted: ${JSON.stringify(f.answers)}`);
    const after = await metrics(a);
    const hb = '/magnet.v1.Control/Heartbeat';
    assert.ok(metric(after, 'magnet_net_refused_total', `method="${hb}"`, 'reason="rate_limited"') >= limited, 'counted by reason');
    assert.equal(
      metric(after, 'magnet_net_refused_total', 'reason="replayed_nonce"'),
      metric(before, 'magnet_net_refused_total', 'reason="replayed_nonce"'),
    );
    assert.deepEqual(late, [], "B's and C's heartbeats kept arriving at A during the floods");
    for (const d of [b, c]) {
      const m = await metrics(d);
      assert.equal(metric(m, 'magnet_net_refused_total', 'reason="rate_limited"'), 0, 'no honest call was limited anywhere');
    }
    const rateLines = a
      .output()
      .split('\n')
      .filter((l) => l.includes('"reason":"rate_limited"'));
    assert.ok(
      rateLines.length > 0 && rateLines.every((l) => l.includes(homes[3]!.nodeId)),
      'only the hostile key was limited (logged by name)',
    );
    assert.ok(rateLines.length < 20, `flood refusals are logged once per 10 s, not ${rateLines.length} times`);
    const nonces = (await a.get<Status>('/status')).net.nonces?.entries ?? 0;
    assert.ok(nonces < 1000, `A remembers ${nonces} nonces after ${f.sent} requests`);
    note(
      `target A under the unplaced-blob and RPC floods: RSS ${idle.rss} MiB idle -> ${flood.peakRssMiB} MiB peak; home ${idle.disk} MiB -> ${flood.diskMiB} MiB; ` +
        `${f.sent} heartbeats in ${f.seconds} s from one key: ${JSON.stringify(f.answers)}; nonces kept ${nonces}`,
    );
  },
);

test(
  'a GetBlob answer larger than announced is cut off at the expected size; the blob is rebuilt without it',
  { timeout: 180_000 },
  async () => {
    // C out: the blob's six shards go two by two to A, B and the hostile member (replicas 1), one data shard at least on it.
    await c.stop();
    await waitFor(
      async () => (await a.get<Status>('/status')).storage.holders.live === 3,
      30_000,
      'A to count A, B and the hostile member as holders',
    );
    const input = join(work, 'oversize.bin');
    writeFileSync(input, randomBytes(8 * MiB));
    const id = (await cli(a, 'blob', 'put', input)).trim();
    const status = JSON.parse(await cli(a, 'blob', 'status', id, '--json')) as {
      manifest: { shardSize: number; shards: { index: number; holders: string[] }[] };
    };
    const onHostile = status.manifest.shards.filter((s) => s.holders.includes(homes[3]!.nodeId)).map((s) => s.index);
    assert.ok(
      onHostile.some((i) => i < 4),
      `a data shard on the hostile member: ${onHostile.join()}`,
    );
    // The reference: the same size of blob rebuilt from honest holders only (the disk-low test's, on A and B).
    const reference = await underLoad(a, () => cli(a, 'blob', 'get', firstBlob, join(work, 'reference.out')));
    const idle = rssMiB(a);
    const before = await metrics(a);
    const out = join(work, 'oversize.out');
    const got = await underLoad(a, () => cli(a, 'blob', 'get', id, out));
    assert.equal(
      createHash('sha256').update(readFileSync(out)).digest('hex'),
      createHash('sha256').update(readFileSync(input)).digest('hex'),
    );
    const m = await metrics(a);
    const cut =
      metric(m, 'magnet_net_refused_total', 'method="/magnet.v1.Data/GetBlob"', 'reason="answer_too_large"') -
      metric(before, 'magnet_net_refused_total', 'method="/magnet.v1.Data/GetBlob"', 'reason="answer_too_large"');
    assert.ok(cut >= 1, 'the oversized answer was cut off and counted');
    assert.ok(metric(m, 'magnet_storage_shard_fetch_refused_total', 'reason="oversize"') >= 1, 'and the holder named for it');
    const cutLine = new RegExp(`refused ${homes[3]!.nodeId} \\(/magnet.v1.Data/GetBlob\\).*runs past the announced`);
    await waitFor(() => cutLine.test(a.output()), 5000, 'the log line naming the holder').catch(() => undefined);
    assert.match(a.output(), cutLine);
    assert.ok(got.peakRssMiB - idle < 128, `RSS ${idle} -> ${got.peakRssMiB} MiB: bounded (the holder offered 1 GiB more per shard)`);
    note(
      `reader A fetching from a holder that streams 1 GiB past each ${status.manifest.shardSize >> 10} KiB shard: RSS ${idle} MiB before -> ${got.peakRssMiB} MiB peak (${cut} answers cut off); the same get from honest holders only peaked at ${reference.peakRssMiB} MiB`,
    );
    writeFileSync(join(work, 'figures.txt'), `${figures.join('\n')}\n`);
    for (const d of [a, b]) assert.equal(await d.stop(), 0);
  },
);
