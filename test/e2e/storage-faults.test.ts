import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { KuboStore } from '../../daemon/src/storage/stores/kubo-store.js';
import {
  CLI,
  type RunningDaemon,
  loopbackStartArgs,
  membersArgs,
  prepareHomes,
  startDaemon,
  tempHome,
  testEnv,
  waitFor,
} from '../helpers/daemon.js';
import { type RunningKubo, startKubo } from '../helpers/kubo.js';

/**
 * Storage faults across real processes: 4 daemons on loopback (gRPC data plane), the first pinning in a real
 * offline kubo. One copy per shard (replicas 1), so every lost or corrupt copy must be rebuilt by Reed-Solomon,
 * not merely copied. Repair loop every second, holders stale after 5 s. The tests run in order on one cluster:
 * bad input, kubo down and back, a flipped bit, a holder killed during a put, then m=2 shards lost with a node.
 */
const run = promisify(execFile);
const MAX_BLOB = 16 << 20;
const env = testEnv({
  MAGNET_HEARTBEAT: '1',
  MAGNET_PEER_STALE: '5',
  MAGNET_HOLDER_STALE_MS: '5000',
  MAGNET_REPAIR_INTERVAL_MS: '1000',
  MAGNET_STORAGE_REPLICAS: '1',
  MAGNET_STORAGE_MAX_BLOB_BYTES: String(MAX_BLOB),
});

interface BlobStatus {
  priority: string;
  liveShards: number;
  shards: { index: number; holders: string[] }[];
  manifest: { shards: { index: number; sha256: string; cid: string; holders: string[] }[] };
}
interface StorageStatus {
  holders: { live: number };
  kubo: { up: boolean; pending: number; note?: string };
}

const work = mkdtempSync(join(tmpdir(), 'magnet-faults-'));
const daemons: RunningDaemon[] = [];
const ids: string[] = [];
let kubo: RunningKubo;

before(async () => {
  kubo = await startKubo();
  // Shards go only to members: the four homes are made first and listed as the network's members.
  const homes = await prepareHomes(4);
  const members = membersArgs(homes);
  const d1 = await startDaemon({ home: homes[0]!.home, env, args: [...members, '--ipfs-api', kubo.apiUrl] });
  daemons.push(d1);
  const boot = (await d1.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0]!;
  daemons.push(
    ...(await Promise.all(homes.slice(1).map((h) => startDaemon({ home: h.home, env, args: [...members, '--bootstrap', boot] })))),
  );
  for (const d of daemons) ids.push((await d.get<{ nodeId: string }>('/status')).nodeId);
  for (const d of daemons)
    await waitFor(async () => (await storageStatus(d)).holders.live === 4, 30_000, 'every daemon to see 3 live storage peers');
});
after(async () => {
  for (const d of daemons) await d.kill();
  await kubo?.destroy();
  rmSync(work, { recursive: true, force: true });
});

async function cli(d: RunningDaemon, ...args: string[]): Promise<string> {
  return (await run(process.execPath, [CLI, ...args, '--home', d.home], { env, maxBuffer: 1 << 24 })).stdout;
}
/** Runs a CLI command that must fail; returns its stderr. */
async function cliFails(d: RunningDaemon, ...args: string[]): Promise<string> {
  const r = await run(process.execPath, [CLI, ...args, '--home', d.home], { env }).then(
    () => undefined,
    (e: { code?: number; stderr?: string }) => e,
  );
  assert.ok(r, `magnet-node ${args.join(' ')} should fail`);
  assert.notEqual(r.code, 0);
  return r.stderr ?? '';
}
const storageStatus = async (d: RunningDaemon) => (await d.get<{ storage: StorageStatus }>('/status')).storage;
const blobStatus = async (d: RunningDaemon, id: string) => JSON.parse(await cli(d, 'blob', 'status', id, '--json')) as BlobStatus;
const metric = async (d: RunningDaemon, name: string) =>
  Number(new RegExp(`^magnet_${name} (\\S+)$`, 'm').exec(await (await d.fetch(`/metrics`)).text())?.[1] ?? 0);
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

function blobFile(name: string, size: number): string {
  const f = join(work, name);
  writeFileSync(f, randomBytes(size));
  return f;
}
async function putBlob(d: RunningDaemon, file: string): Promise<{ id: string; kubo: string }> {
  return JSON.parse(await cli(d, 'blob', 'put', file, '--json')) as { id: string; kubo: string };
}
async function getMatches(d: RunningDaemon, id: string, file: string): Promise<void> {
  const out = `${file}.${d.proc.pid}.out`;
  await cli(d, 'blob', 'get', id, out);
  assert.equal(sha(out), sha(file), 'rebuilt bytes equal the original');
}
const healthy = (d: RunningDaemon, id: string, what: string, timeoutMs = 30_000) =>
  waitFor(
    async () => {
      const s = await blobStatus(d, id);
      return s.priority === 'healthy' && s.liveShards === 6 ? s : undefined;
    },
    timeoutMs,
    what,
  );

test('bad input: each CLI and config mistake is a clear error naming what is wrong', { timeout: 120_000 }, async () => {
  const d1 = daemons[0]!;
  assert.match(await cliFails(d1, 'blob', 'put', join(work, 'no-such-file')), /cannot read .*no-such-file/);
  assert.match(await cliFails(d1, 'blob', 'put', work), /not a regular file/);
  const big = blobFile('too-big.bin', MAX_BLOB + 1);
  assert.match(await cliFails(d1, 'blob', 'put', big), /over storage\.maxBlobBytes/);
  assert.match(await cliFails(d1, 'blob', 'get', 'zz', join(work, 'x')), /not a manifest id .*ERR_BAD_ID/);
  assert.match(await cliFails(d1, 'blob', 'status', 'zz'), /ERR_BAD_ID/);
  assert.match(await cliFails(d1, 'blob', 'get', '0'.repeat(64), join(work, 'x')), /no reachable holder has manifest .*ERR_BLOB_NOT_FOUND/);
  const small = blobFile('small.bin', 1000);
  const { id } = await putBlob(d1, small);
  assert.match(await cliFails(daemons[1]!, 'blob', 'get', id, join(work, 'no-dir', 'out')), /cannot write .*no-dir/);
  // A kubo API address that is neither a URL nor a multiaddr stops the daemon at start with the reason.
  const bad = await run(process.execPath, [CLI, ...loopbackStartArgs(tempHome()), '--ipfs-api', 'nonsense'], { env }).then(
    () => undefined,
    (e: { code?: number; stderr?: string; stdout?: string }) => e,
  );
  assert.ok(bad && bad.code !== 0, 'the daemon refuses a bad --ipfs-api');
  assert.match(`${bad.stderr}${bad.stdout}`, /kubo API.*nonsense|nonsense.*kubo API/);
});

test(
  'kubo down: blobs still go to peers and the embedded store, /status says so, and kubo catches up when back',
  { timeout: 120_000 },
  async () => {
    const d1 = daemons[0]!;
    await kubo.stop();
    await waitFor(async () => (await storageStatus(d1)).kubo.up === false, 15_000, 'the repair loop to notice kubo is down');
    const file = blobFile('kubo-down.bin', 3 << 20);
    const put = await putBlob(d1, file);
    assert.equal(put.kubo, 'queued');
    const down = await storageStatus(d1);
    assert.equal(down.kubo.pending, 7, '6 shards and the manifest wait for kubo');
    assert.match(down.kubo.note ?? '', /kubo down/);
    await getMatches(daemons[2]!, put.id, file);

    await kubo.restart();
    await waitFor(
      async () => {
        const s = await storageStatus(d1);
        return s.kubo.up && s.kubo.pending === 0;
      },
      30_000,
      'kubo catch-up',
    );
    const store = new KuboStore({ api: kubo.apiUrl });
    for (const s of (await blobStatus(d1, put.id)).manifest.shards)
      assert.ok(await store.has(s), `shard ${s.index} pinned in kubo after catch-up`);
  },
);

test('a flipped bit in a shard on another node: detected, never used, and the shard is rebuilt', { timeout: 120_000 }, async () => {
  const [d1] = daemons;
  const file = blobFile('flip.bin', (2 << 20) + 5);
  const { id } = await putBlob(d1!, file);
  const st = await blobStatus(d1!, id);
  const shard = st.manifest.shards.find((s) => s.holders[0] !== ids[0])!;
  const holder = daemons[ids.indexOf(shard.holders[0]!)]!;
  const path = join(holder.home, 'shards', shard.sha256.slice(0, 2), shard.sha256);
  const bytes = readFileSync(path);
  bytes[777]! ^= 0x04;
  writeFileSync(path, bytes);
  const reader = daemons.find((d) => d !== d1 && d !== holder)!;
  await getMatches(reader, id, file); // the bad copy fails its hash check wherever it is read
  await waitFor(async () => (await metric(holder, 'storage_corrupt_shards_total')) >= 1, 15_000, 'the holder to find the corrupt copy');
  const healed = await healthy(d1!, id, 'the shard to be rebuilt');
  assert.equal(healed.shards[shard.index]!.holders.length, 1);
  assert.ok((await metric(d1!, 'storage_shards_rebuilt_total')) >= 1, 'rebuilt by Reed-Solomon (its only copy was bad)');
  assert.ok((await metric(d1!, 'storage_blob_puts_total')) >= 3, 'puts counted in /metrics');
  await getMatches(reader, id, file);
});

test('a holder killed during a put: the put completes on the other holders and the blob reads back', { timeout: 120_000 }, async () => {
  const [d1, d2, , d4] = daemons;
  const file = blobFile('mid-put.bin', 12 << 20);
  const putting = putBlob(d1!, file);
  await new Promise((r) => setTimeout(r, 700));
  await d4!.kill();
  const { id } = await putting;
  await getMatches(d2!, id, file);
  await healthy(d1!, id, 'repair after the killed holder went stale');
  assert.ok(
    (await blobStatus(d1!, id)).shards.every((s) => !s.holders.includes(ids[3]!)),
    'no shard counted on the dead node',
  );
});

test(
  'm=2 shards lost with their node: another node rebuilds the blob, and repair restores all 6 shards',
  { timeout: 120_000 },
  async () => {
    const [d1, d2, d3] = daemons;
    await waitFor(async () => (await storageStatus(d1!)).holders.live === 3, 15_000, 'the killed node to go stale');
    const file = blobFile('lose-m.bin', (4 << 20) + 123);
    const { id } = await putBlob(d1!, file);
    const before = await blobStatus(d1!, id);
    const onD3 = before.shards.filter((s) => s.holders.includes(ids[2]!)).length;
    assert.equal(onD3, 2, '6 shards on 3 live nodes, one copy each: d3 holds 2');
    const rebuiltBefore = await metric(d1!, 'storage_shards_rebuilt_total');
    await d3!.kill();
    await getMatches(d2!, id, file); // 2 of 6 shards gone: Reed-Solomon from the other 4
    const healed = await healthy(d1!, id, 'repair to rebuild the 2 lost shards');
    assert.ok(healed.shards.every((s) => s.holders.length === 1 && !s.holders.includes(ids[2]!)));
    assert.ok((await metric(d1!, 'storage_shards_rebuilt_total')) >= rebuiltBefore + 2);
    await getMatches(d2!, id, file);
  },
);
