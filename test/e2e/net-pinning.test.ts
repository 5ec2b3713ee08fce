import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, type RunningDaemon, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * Trust on first use across real daemons: a peer that comes back with a new certificate is refused and reported
 * (nodeId and both fingerprints), until the operator runs `magnet-node peers forget <nodeId>`; then the new
 * certificate is pinned. Also a partition-like fault: a peer frozen with SIGSTOP goes stale and comes back.
 */
const run = promisify(execFile);
const env = testEnv({ MAGNET_HEARTBEAT: '1', MAGNET_PEER_STALE: '4' });

interface Status {
  nodeId: string;
  listen: { p2p: string[]; grpc: string };
  net: { tls: { certSha256: string }; peers: { nodeId: string; state: string }[] };
}

const daemons: RunningDaemon[] = [];
after(async () => {
  for (const d of daemons) {
    d.proc.kill('SIGCONT');
    await d.kill();
  }
});

const isLive = async (d: RunningDaemon, nodeId: string): Promise<boolean> =>
  (await d.get<Status>('/status')).net.peers.some((p) => p.nodeId === nodeId && p.state === 'live');
const metrics = async (d: RunningDaemon): Promise<string> => (await d.fetch(`/metrics`)).text();

test(
  'a changed certificate is refused and reported until "peers forget"; a frozen peer goes stale and comes back',
  { timeout: 400_000 },
  async () => {
    const a = await startDaemon({ env, args: ['--no-ssd-test'] });
    daemons.push(a);
    const sa = await a.get<Status>('/status');
    const boot = sa.listen.p2p[0] as string;
    let b = await startDaemon({ env, args: ['--no-ssd-test', '--bootstrap', boot] });
    daemons.push(b);
    const sb = await b.get<Status>('/status');
    await waitFor(() => isLive(a, sb.nodeId), 60_000, 'a to see b');
    await waitFor(() => isLive(b, sa.nodeId), 60_000, 'b to see a');

    // Partition-like fault: freeze b (its sockets stop answering), a marks it stale; thaw it, it is live again.
    b.proc.kill('SIGSTOP');
    await waitFor(async () => !(await isLive(a, sb.nodeId)), 60_000, 'a to mark the frozen b stale');
    b.proc.kill('SIGCONT');
    await waitFor(() => isLive(a, sb.nodeId), 60_000, 'a to see b back after the freeze');

    // b restarts with a NEW certificate (same wallet, same nodeId): a must refuse it, naming both fingerprints.
    assert.equal(await b.stop(45_000), 0);
    await waitFor(async () => !(await isLive(a, sb.nodeId)), 60_000, 'a to mark b stale');
    rmSync(join(b.home, 'tls'), { recursive: true, force: true });
    b = await startDaemon({ env, home: b.home, args: ['--no-ssd-test', '--bootstrap', boot] });
    daemons.push(b);
    const sb2 = await b.get<Status>('/status');
    assert.equal(sb2.nodeId, sb.nodeId);
    assert.notEqual(sb2.net.tls.certSha256, sb.net.tls.certSha256, 'b has a new certificate');
    await waitFor(async () => /reason="cert_pin_mismatch"[^\n]* [1-9]/.test(await metrics(a)), 60_000, 'a to refuse the new certificate');
    const pinLine = () =>
      a
        .output()
        .split('\n')
        .find((l) => l.includes('cert_pin_mismatch') && l.includes(sb.nodeId));
    const line = await waitFor(pinLine, 30_000, 'a to log the refusal naming b');
    assert.ok(line.includes(sb.net.tls.certSha256) && line.includes(sb2.net.tls.certSha256), `both fingerprints in: ${line}`);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await isLive(a, sb.nodeId), false, 'a keeps refusing b');
    const book = JSON.parse((await run(process.execPath, [CLI, 'peers', '--json', '--home', a.home], { env })).stdout) as {
      peers: { nodeId: string; certSha256: string }[];
    };
    assert.equal(book.peers.find((p) => p.nodeId === sb.nodeId)?.certSha256, sb.net.tls.certSha256, 'the old pin is still in place');

    // The operator re-pins: forget b on a; the new certificate becomes the pin and b is live again.
    const { stdout } = await run(process.execPath, [CLI, 'peers', 'forget', sb.nodeId, '--home', a.home], { env });
    assert.match(stdout, new RegExp(`forgot ${sb.nodeId}`));
    await waitFor(() => isLive(a, sb.nodeId), 60_000, 'a to accept b with its new certificate');
    await waitFor(() => isLive(b, sa.nodeId), 60_000, 'b to see a');
    const book2 = JSON.parse((await run(process.execPath, [CLI, 'peers', '--json', '--home', a.home], { env })).stdout) as {
      peers: { nodeId: string; certSha256: string }[];
    };
    assert.equal(book2.peers.find((p) => p.nodeId === sb.nodeId)?.certSha256, sb2.net.tls.certSha256, 'the new certificate is pinned');

    // A bad forget is refused with a clear error.
    await assert.rejects(run(process.execPath, [CLI, 'peers', 'forget', 'node-xyz', '--home', a.home], { env }), /not a nodeId/);
    for (const d of [a, b]) assert.equal(await d.stop(45_000), 0);
  },
);
