import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readDaemonEndpoint } from '../../daemon/src/api/daemon-endpoint.js';
import { HomeDir } from '../../daemon/src/node/home.js';
import { CLI, type RunningDaemon, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * A real network partition: daemon B runs in its own network namespace, joined to the host by a veth pair
 * (private 10.231.x addresses, nothing leaves the machine). Taking the host end of the link down cuts A and B
 * apart in both directions; both mark the other stale; bringing it up heals, and both see each other live again
 * with no pin error. Needs root and `ip netns` (CAP_SYS_ADMIN): skipped, saying why, where that is unavailable.
 */
const NS = `mgn${process.pid}`;
const HOST_IF = `vh${process.pid}`.slice(0, 15);
const NS_IF = `vn${process.pid}`.slice(0, 15);
const HOST_IP = '10.231.0.1';
const NS_IP = '10.231.0.2';

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root for ip netns';
  try {
    ip('netns', 'add', NS);
    ip('link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF);
    ip('link', 'set', NS_IF, 'netns', NS);
    ip('addr', 'add', `${HOST_IP}/24`, 'dev', HOST_IF);
    ip('link', 'set', HOST_IF, 'up');
    ip('netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/24`, 'dev', NS_IF);
    ip('netns', 'exec', NS, 'ip', 'link', 'set', NS_IF, 'up');
    ip('netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up');
    return undefined;
  } catch (err) {
    cleanup();
    return `ip netns is not usable here (${
      String((err as { stderr?: Buffer }).stderr ?? err)
        .trim()
        .split('\n')[0]
    })`;
  }
}

function cleanup(): void {
  for (const args of [
    ['link', 'del', HOST_IF],
    ['netns', 'del', NS],
  ]) {
    try {
      ip(...args);
    } catch {
      // already gone
    }
  }
}

const skip = netnsUnavailable();
const daemons: RunningDaemon[] = [];
let nsProc: ReturnType<typeof spawn> | undefined;
after(async () => {
  nsProc?.kill('SIGKILL');
  for (const d of daemons) await d.kill();
  if (!skip) cleanup();
});

interface Status {
  nodeId: string;
  listen: { p2p: string[]; grpc: string };
  net: { peers: { nodeId: string; state: string }[] };
}

test('a partition between two daemons in separate network namespaces: both go stale, both heal', { skip, timeout: 120_000 }, async () => {
  const env = testEnv({ MAGNET_HEARTBEAT: '1', MAGNET_PEER_STALE: '4', MAGNET_CALL_DEADLINE: '3' });
  const a = await startDaemon({ env, args: ['--no-ssd-test', '--grpc', `${HOST_IP}:0`, '--p2p', `/ip4/${HOST_IP}/tcp/0`] });
  daemons.push(a);
  const sa = await a.get<Status>('/status');
  assert.match(sa.listen.p2p[0] as string, new RegExp(`^/ip4/${HOST_IP.replace(/\./g, '\\.')}/`));

  // B inside the namespace (ip netns exec execs node in place, so the pid is the daemon's).
  const home = tempHome();
  const args = [
    CLI,
    'start',
    '--home',
    home,
    '--api',
    `${NS_IP}:0`,
    '--admin',
    '127.0.0.1:0',
    '--grpc',
    `${NS_IP}:0`,
    '--p2p',
    `/ip4/${NS_IP}/tcp/0`,
    '--no-mdns',
    '--no-ssd-test',
    '--log-level',
    'debug',
    '--bootstrap',
    sa.listen.p2p[0] as string,
  ];
  const proc = spawn('ip', ['netns', 'exec', NS, process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  nsProc = proc;
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const apiFile = join(home, 'api.json');
  const ep = await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`B exited: ${out}`);
      if (!existsSync(apiFile)) return undefined;
      const info = readDaemonEndpoint(new HomeDir(home));
      return (await fetch(`${info.api}/readyz`)).ok ? info : undefined;
    },
    30_000,
    'B in the namespace to be ready',
  );
  // B's admin listener is on the namespace's own loopback: its /status is read from inside the namespace.
  const getB = async (): Promise<Status> => {
    const script = `fetch(${JSON.stringify(`${ep.admin}/status`)},{headers:{authorization:'Bearer ${ep.token}'}}).then(r=>r.text()).then(t=>process.stdout.write(t))`;
    const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 });
    return JSON.parse(r.stdout) as Status;
  };
  const sb = await getB();
  const live = (s: Status, id: string): boolean => s.net.peers.some((p) => p.nodeId === id && p.state === 'live');
  await waitFor(async () => live(await a.get<Status>('/status'), sb.nodeId), 15_000, 'A to see B across the veth link');
  await waitFor(async () => live(await getB(), sa.nodeId), 15_000, 'B to see A');

  // Partition: both directions cut at the link. B's HTTP is behind the cut too, so B is judged by its log.
  ip('link', 'set', HOST_IF, 'down');
  await waitFor(async () => !live(await a.get<Status>('/status'), sb.nodeId), 15_000, 'A to mark B stale during the partition');
  await waitFor(() => out.includes('"msg":"peer is stale"') && out.includes(sa.nodeId), 15_000, 'B to mark A stale during the partition');

  // Heal.
  ip('link', 'set', HOST_IF, 'up');
  await waitFor(async () => live(await a.get<Status>('/status'), sb.nodeId), 45_000, 'A to see B again after the heal');
  await waitFor(async () => live(await getB(), sa.nodeId), 45_000, 'B to see A again after the heal');
  assert.equal(/cert_pin_mismatch/.test(a.output() + out), false, 'no pin errors after the heal');
  proc.kill('SIGTERM');
  assert.equal(await new Promise((r) => proc.once('exit', r)), 0);
  assert.equal(await a.stop(), 0);
});
