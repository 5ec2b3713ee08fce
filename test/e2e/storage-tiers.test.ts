import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, type RunningDaemon, membersArgs, prepareHomes, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * Storage across mixed real tiers: 4 daemons whose tiers come from their own SSD test against the floors, no role
 * override. Two take floors no disk meets (they profile light: no storage role), two take floors of 0 (storage).
 * A light node's put goes to the two storage nodes only and says it reached 2 of the 3 copies wanted; after its
 * creator and one storage node die, the other light node still reads the blob.
 */
const run = promisify(execFile);
const base = { MAGNET_HEARTBEAT: '1', MAGNET_PEER_STALE: '5', MAGNET_HOLDER_STALE_MS: '5000', MAGNET_REPAIR_INTERVAL_MS: '1000' };
const storageEnv = testEnv(base);
const lightEnv = testEnv({ ...base, MAGNET_SSD_MIN_READ_MBPS: '100000000', MAGNET_SSD_MIN_WRITE_MBPS: '100000000' });
const work = mkdtempSync(join(tmpdir(), 'magnet-tiers-'));
/** light A (creator), storage B and C, light D (reader). */
const d: RunningDaemon[] = [];

interface Status {
  nodeId: string;
  tier: string;
  roles: string[];
}
const status = (x: RunningDaemon) => x.get<Status & { storage: { holders: { live: number } } }>('/status');

before(async () => {
  const homes = await prepareHomes(4);
  const members = membersArgs(homes);
  const envs = [lightEnv, storageEnv, storageEnv, lightEnv];
  d.push(await startDaemon({ home: homes[0]!.home, env: envs[0], args: members }));
  const boot = (await d[0]!.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0]!;
  for (let i = 1; i < 4; i++) d.push(await startDaemon({ home: homes[i]!.home, env: envs[i], args: [...members, '--bootstrap', boot] }));
  // Every node sees the two storage nodes (a storage node counts itself and the other; a light node never counts itself).
  for (const x of d)
    await waitFor(async () => (await status(x)).storage.holders.live === 2, 30_000, 'two live storage holders seen by each node');
});
after(async () => {
  for (const x of d) await x.kill();
  rmSync(work, { recursive: true, force: true });
});

test('a light node puts on the storage nodes only, reports 2 of 3 copies, and its blob outlives it and one storage node', async () => {
  const roles = await Promise.all(d.map(async (x) => (await status(x)).roles));
  assert.ok(!roles[0]!.includes('storage') && !roles[3]!.includes('storage'), `A and D profile without storage: ${JSON.stringify(roles)}`);
  assert.ok(roles[1]!.includes('storage') && roles[2]!.includes('storage'), `B and C store: ${JSON.stringify(roles)}`);
  const ids = await Promise.all(d.map(async (x) => (await status(x)).nodeId));

  const file = join(work, 'blob.bin');
  writeFileSync(file, randomBytes((4 << 20) + 3));
  const cli = (x: RunningDaemon, ...args: string[]) => run(process.execPath, [CLI, ...args, '--home', x.home], { env: storageEnv });
  const put = JSON.parse((await cli(d[0]!, 'blob', 'put', file, '--json')).stdout) as {
    id: string;
    holders: string[][];
    redundancy: { target: number; reached: number; degraded: boolean; note: string };
  };
  for (const h of put.holders)
    assert.deepEqual([...h].sort(), [ids[1], ids[2]].sort(), 'each shard on both storage nodes, none on the light creator');
  assert.equal(put.redundancy.target, 3);
  assert.equal(put.redundancy.reached, 2);
  assert.equal(put.redundancy.degraded, true);
  assert.match(put.redundancy.note, /2 storage holders are live, 3 copies of each shard are wanted/);
  // Without --json the id alone goes to stdout and the shortfall to stderr.
  const plain = await cli(d[0]!, 'blob', 'put', file);
  assert.match(plain.stdout, /^[0-9a-f]{64}\n$/);
  assert.match(plain.stderr, /warning: 2 of 3 copies of each shard: 2 storage holders are live/);

  await d[0]!.kill();
  await d[1]!.kill();
  const out = join(work, 'blob.out');
  await cli(d[3]!, 'blob', 'get', put.id, out);
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  assert.equal(sha(out), sha(file), 'the light reader rebuilt the blob from the surviving storage node');
});
