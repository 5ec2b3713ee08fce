import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, type RunningDaemon, membersArgs, prepareHomes, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * Leases across real processes: a holder keeps what a peer placed there only while that peer's repair loop keeps
 * asking about it. 3 daemons, leases of 12 s, repair every second. The owner of one blob is killed: its shards
 * go from the holders once the lease lapses unrenewed, while a blob whose owner lives stays.
 */
const run = promisify(execFile);
const env = testEnv({
  MAGNET_HEARTBEAT: '1',
  MAGNET_PEER_STALE: '5',
  MAGNET_HOLDER_STALE_MS: '5000',
  MAGNET_REPAIR_INTERVAL_MS: '1000',
  MAGNET_HELD_LEASE_HOURS: String(12 / 3600),
});
const work = mkdtempSync(join(tmpdir(), 'magnet-leases-'));
const daemons: RunningDaemon[] = [];
after(async () => {
  for (const d of daemons) await d.kill();
  rmSync(work, { recursive: true, force: true });
});

type Held = Record<string, { blobs: number; bytes: number }>;
const heldShards = async (d: RunningDaemon): Promise<Held> =>
  (await d.get<{ storage: { bytes: { heldForPeersByPurpose: Held } } }>('/status')).storage.bytes.heldForPeersByPurpose;

test(
  'a holder deletes what a dead owner placed once its lease lapses unrenewed; a live owner keeps its blob',
  { timeout: 180_000 },
  async () => {
    const homes = await prepareHomes(3);
    const members = membersArgs(homes);
    const d1 = await startDaemon({ home: homes[0]!.home, env, args: members });
    daemons.push(d1);
    const boot = (await d1.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0]!;
    daemons.push(
      ...(await Promise.all(homes.slice(1).map((h) => startDaemon({ home: h.home, env, args: [...members, '--bootstrap', boot] })))),
    );
    const [owner, survivor, holder] = daemons as [RunningDaemon, RunningDaemon, RunningDaemon];
    for (const d of daemons)
      await waitFor(
        async () => (await d.get<{ storage: { holders: { live: number } } }>('/status')).storage.holders.live === 3,
        30_000,
        'every daemon to see 2 live storage peers',
      );
    const put = async (d: RunningDaemon, name: string) => {
      const f = join(work, name);
      writeFileSync(f, randomBytes(3 << 20));
      return (await run(process.execPath, [CLI, 'blob', 'put', f, '--home', d.home], { env })).stdout.trim();
    };
    await put(owner, 'a.bin');
    await put(survivor, 'b.bin');
    // With 3 holders and 3 copies wanted, the third node holds every shard and the manifest of both blobs.
    const before = await heldShards(holder);
    assert.equal(before['shard']?.blobs, 12, `6 shards of each blob held for their owners: ${JSON.stringify(before)}`);

    await owner.kill();
    // Past the lease (12 s) plus a maintenance round: the dead owner's 6 shards and manifest are gone; the live one's stay,
    // renewed every second by its repair loop (well past 12 s: the wait below is at least 12 s).
    const t0 = Date.now();
    const after = await waitFor(
      async () => {
        const h = await heldShards(holder);
        return h['shard']?.blobs === 6 ? h : undefined;
      },
      60_000,
      'the dead owner’s shards to be deleted at the holder',
    );
    assert.ok(Date.now() - t0 >= 5_000, 'not before the lease could lapse');
    assert.equal(after['manifest']?.blobs, 1, `only the live owner's manifest stays: ${JSON.stringify(after)}`);
    await new Promise((r) => setTimeout(r, 13_000));
    assert.equal((await heldShards(holder))['shard']?.blobs, 6, 'the live owner’s shards outlive another lease period');
  },
);
