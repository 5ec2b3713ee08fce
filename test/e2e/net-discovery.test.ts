import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, type RunningDaemon, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * Three real daemons from the CLI on loopback (mDNS off): the 2nd and 3rd bootstrap from the 1st, all three find
 * each other, heartbeat, list each other in /status, and the 3rd comes back after a SIGKILL with the same identity
 * and certificate (no pin error anywhere).
 */
const run = promisify(execFile);
const env = testEnv({ MAGNET_HEARTBEAT: '1', MAGNET_PEER_STALE: '5', MAGNET_SSD_TEST: 'false' });

interface NetStatus {
  nodeId: string;
  listen: { p2p: string[]; grpc: string };
  net: { peerId: string; tls: { certSha256: string }; peers: { nodeId: string; state: string; lastHeartbeat: number }[] };
}

const daemons: RunningDaemon[] = [];
after(async () => {
  for (const d of daemons) await d.kill();
});

const livePeers = async (d: RunningDaemon): Promise<string[]> =>
  (await d.get<NetStatus>('/status')).net.peers
    .filter((p) => p.state === 'live')
    .map((p) => p.nodeId)
    .sort();

async function metric(d: RunningDaemon, name: string): Promise<string> {
  const text = await (await d.fetch(`/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

test('three daemons find each other through a bootstrap peer, heartbeat, and survive a restart', { timeout: 120_000 }, async () => {
  const d1 = await startDaemon({ env, args: ['--no-ssd-test'] });
  daemons.push(d1);
  const s1 = await d1.get<NetStatus>('/status');
  const boot = s1.listen.p2p[0] as string;
  assert.match(boot, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/16Uiu2HA/);
  assert.equal(s1.net.peerId, boot.split('/p2p/')[1]);
  assert.match(s1.listen.grpc, /^127\.0\.0\.1:\d+$/);

  const [d2, d3] = await Promise.all([
    startDaemon({ env, args: ['--no-ssd-test', '--bootstrap', boot] }),
    startDaemon({ env, args: ['--no-ssd-test', '--bootstrap', boot] }),
  ]);
  daemons.push(d2, d3);
  const t0 = Date.now();
  const ids = await Promise.all([d1, d2, d3].map(async (d) => (await d.get<NetStatus>('/status')).nodeId));
  const all = [...ids].sort();
  for (const [i, d] of [d1, d2, d3].entries()) {
    const others = all.filter((x) => x !== ids[i]);
    await waitFor(async () => JSON.stringify(await livePeers(d)) === JSON.stringify(others), 10_000, `daemon ${i + 1} to see both others`);
  }
  const seenMs = Date.now() - t0;
  assert.ok(seenMs < 10_000, `all three saw each other after ${seenMs} ms`);

  // Heartbeats flow both ways: counters grow and last heartbeats are recent.
  await waitFor(
    async () => /magnet_net_heartbeats_total\{outcome="ok"\} ([3-9]|\d\d+)/.test(await metric(d2, 'magnet_net_heartbeats_total')),
    10_000,
    'heartbeats from d2',
  );
  const st2 = await d2.get<NetStatus>('/status');
  for (const p of st2.net.peers) assert.ok(Date.now() - p.lastHeartbeat < 5000, `recent heartbeat from ${p.nodeId}`);

  // The CLI lists the peer book.
  const { stdout } = await run(process.execPath, [CLI, 'peers', '--json', '--home', d1.home], { env });
  const book = JSON.parse(stdout) as { peers: { nodeId: string; state: string; certSha256: string }[] };
  assert.deepEqual(
    book.peers.map((p) => p.nodeId).sort(),
    all.filter((x) => x !== ids[0]),
  );
  const s3 = await d3.get<NetStatus>('/status');
  assert.equal(book.peers.find((p) => p.nodeId === ids[2])?.certSha256, s3.net.tls.certSha256, 'd1 pinned the certificate d3 presents');

  // Crash d3, see it go stale, restart it from the same home: same identity, same certificate, no pin error.
  await d3.kill();
  await waitFor(async () => !(await livePeers(d1)).includes(ids[2] as string), 15_000, 'd1 to mark d3 stale');
  const d3b = await startDaemon({ env, home: d3.home, args: ['--no-ssd-test', '--bootstrap', boot] });
  daemons.push(d3b);
  const s3b = await d3b.get<NetStatus>('/status');
  assert.equal(s3b.nodeId, ids[2]);
  assert.equal(s3b.net.tls.certSha256, s3.net.tls.certSha256);
  for (const [i, d] of [d1, d2].entries()) {
    await waitFor(async () => (await livePeers(d)).includes(ids[2] as string), 15_000, `daemon ${i + 1} to see d3 back`);
  }
  await waitFor(async () => (await livePeers(d3b)).length === 2, 15_000, 'the restarted d3 to see both others');
  for (const d of [d1, d2, d3b]) {
    assert.equal(/cert_pin_mismatch/.test(await metric(d, 'magnet_net_refused_total')), false, 'no pin refusals');
    assert.equal(/ERR_CERT_PIN|certificate of node-/.test(d.output()), false, 'no pin errors in the logs');
  }
  for (const d of [d1, d2, d3b]) assert.equal(await d.stop(), 0);
});

test('a peer that stops is shown down at once, long before the stale time', { timeout: 120_000 }, async () => {
  // A stale time of 120 s: only the closed connection and the failed heartbeat can mark the peer down in time.
  const slow = testEnv({ MAGNET_HEARTBEAT: '2', MAGNET_PEER_STALE: '120', MAGNET_SSD_TEST: 'false' });
  const a = await startDaemon({ env: slow });
  daemons.push(a);
  const boot = (await a.get<NetStatus>('/status')).listen.p2p[0] as string;
  const b = await startDaemon({ env: slow, args: ['--bootstrap', boot] });
  daemons.push(b);
  const idB = (await b.get<NetStatus>('/status')).nodeId;
  await waitFor(async () => (await livePeers(a)).includes(idB), 20_000, 'a to see b live');
  const t0 = Date.now();
  assert.equal(await b.stop(), 0);
  await waitFor(async () => !(await livePeers(a)).includes(idB), 20_000, 'a to show b down');
  const downMs = Date.now() - t0;
  assert.ok(downMs < 20_000, `b shown down ${downMs} ms after it stopped (stale time 120 s)`);
  assert.match(a.output(), new RegExp(`"peer":"${idB}".*"msg":"peer is down"`));
  console.log(`# a stopped peer was shown down after ${downMs} ms (stale time 120 s)`);
});
