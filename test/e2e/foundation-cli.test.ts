import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, loopbackStartArgs, startDaemon, tempHome, testEnv } from '../helpers/daemon.js';

/** Runs the CLI to completion; returns exit code and output. */
function cli(args: string[], env = testEnv()): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('start reaches /readyz, answers /status and /metrics, refuses a second daemon, exits 0 on SIGTERM', async () => {
  const d = await startDaemon();
  try {
    const status = await d.get<{
      nodeId: string;
      address: string;
      tier: string;
      roles: string[];
      listen: { api: string; admin: string };
      version: string;
      uptimeSeconds: number;
    }>('/status');
    assert.match(status.nodeId, /^node-[0-9a-f]{16}$/);
    assert.match(status.address, /^0x[0-9a-fA-F]{40}$/);
    assert.ok(['claude_session', 'gpu_compute', 'storage_node', 'cpu_only', 'mobile_light'].includes(status.tier));
    assert.equal(`http://${status.listen.admin}`, d.url);
    assert.equal(`http://${status.listen.api}`, d.apiUrl);
    const health = await fetch(`${d.apiUrl}/healthz`);
    assert.equal(health.status, 200);
    const metrics = await (await d.fetch(`/metrics`)).text();
    assert.match(metrics, /^magnet_process_resident_memory_bytes /m);
    assert.match(metrics, /^magnet_node_info\{.*node_id="node-[0-9a-f]{16}"/m);

    const st = cli(['status', '--home', d.home]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`^  id\\s+${status.nodeId}$`, 'm'));
    assert.match(st.stdout, /^storage\n {2}blobs/m, 'a section per part, as text');
    const stJson = JSON.parse(cli(['status', '--home', d.home, '--json']).stdout) as { nodeId: string };
    assert.equal(stJson.nodeId, status.nodeId);

    const second = cli(loopbackStartArgs(d.home));
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /another magnet-node daemon \(pid \d+\) is already running/);

    const started = Date.now();
    assert.equal(await d.stop(), 0);
    assert.ok(Date.now() - started < 5000, 'stops within a few seconds');
    assert.ok(!existsSync(join(d.home, 'api.json')), 'the address file is removed on stop');
  } finally {
    await d.kill();
  }
});

test('restart keeps the same identity; status without a daemon exits 1 with a clear message', async () => {
  const home = tempHome();
  const first = await startDaemon({ home });
  const id1 = (await first.get<{ nodeId: string }>('/status')).nodeId;
  await first.stop();
  const none = cli(['status', '--home', home]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no magnet-node daemon is running on/);
  const second = await startDaemon({ home });
  assert.equal((await second.get<{ nodeId: string }>('/status')).nodeId, id1);
  await second.stop();
  const keys = cli(['keys', 'show', '--home', home, '--json']);
  assert.equal(JSON.parse(keys.stdout).nodeId, id1);
});

test('bad input: one clear line, non-zero exit, nothing overwritten', async (t) => {
  const startArgs = loopbackStartArgs;

  await t.test('malformed config file', () => {
    const home = tempHome();
    const cfg = join(home, 'bad.json');
    writeFileSync(cfg, '{"api": {"listen": 7680}}');
    const r = cli([...startArgs(home), '--config', cfg]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid value for api\.listen \(from config file\): 7680; allowed: a string/);
  });

  await t.test('unknown key and out-of-range value from the environment', () => {
    const r = cli(startArgs(tempHome()), testEnv({ MAGNET_LOG_LEVEL: 'chatty' }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /node\.logLevel \(from env\): "chatty"; allowed: one of trace, debug/);
  });

  await t.test('wrong passphrase leaves the keystore as it was', async () => {
    const home = tempHome();
    const d = await startDaemon({ home });
    await d.stop();
    const before = readFileSync(join(home, 'keystore.json'), 'utf8');
    const r = cli(startArgs(home), testEnv({ MAGNET_PASSPHRASE: 'not-it' }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /wrong passphrase for the keystore/);
    assert.equal(readFileSync(join(home, 'keystore.json'), 'utf8'), before);
  });

  await t.test('no passphrase and no terminal', () => {
    const env = testEnv();
    delete env['MAGNET_PASSPHRASE'];
    const r = cli(startArgs(tempHome()), env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /set MAGNET_PASSPHRASE or run on a terminal/);
  });

  await t.test('corrupted keystore', () => {
    const home = tempHome();
    writeFileSync(join(home, 'keystore.json'), 'not json');
    const r = cli(startArgs(home));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /keystore .* is not valid JSON/);
    assert.equal(readFileSync(join(home, 'keystore.json'), 'utf8'), 'not json');
  });

  await t.test('occupied HTTP port', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const home = tempHome();
      const r = cli([...loopbackStartArgs(home), '--api', `127.0.0.1:${port}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`port 127\\.0\\.0\\.1:${port} is already in use`));
      assert.ok(!existsSync(join(home, 'daemon.lock')), 'the lock is released on a failed start');
    } finally {
      blocker.close();
    }
  });

  await t.test('occupied gRPC and libp2p ports, a garbage bootstrap peer: one line naming the flag, no stack', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const oneLine = (r: { stderr: string }, re: RegExp) => {
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('{'));
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0] as string, re);
    };
    try {
      const grpcTaken = cli([...loopbackStartArgs(tempHome()), '--grpc', `127.0.0.1:${port}`]);
      assert.equal(grpcTaken.code, 1);
      oneLine(grpcTaken, new RegExp(`gRPC port 127\\.0\\.0\\.1:${port} is already in use; choose another with --grpc`));
      const p2pTaken = cli([...loopbackStartArgs(tempHome()), '--p2p', `/ip4/127.0.0.1/tcp/${port}`]);
      assert.equal(p2pTaken.code, 1);
      oneLine(p2pTaken, new RegExp(`libp2p port /ip4/127\\.0\\.0\\.1/tcp/${port} is already in use; choose another with --p2p`));
    } finally {
      blocker.close();
    }
    const badPeer = cli([...loopbackStartArgs(tempHome()), '--bootstrap', '/ip4/127.0.0.1/tcp/4001/p2p/garbage']);
    assert.equal(badPeer.code, 1);
    oneLine(badPeer, /invalid value for net\.bootstrap \(from flag\): .*"garbage" is not a libp2p peer id/);
  });

  await t.test('corrupted state database is left untouched', () => {
    const home = tempHome();
    const garbage = Buffer.alloc(4096, 0x42);
    writeFileSync(join(home, 'state.db'), garbage);
    const r = cli(startArgs(home));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /state database .* is unreadable or corrupted/);
    assert.deepEqual(readFileSync(join(home, 'state.db')), garbage);
  });

  await t.test('home directory that is not a directory', () => {
    const parent = tempHome();
    const file = join(parent, 'file');
    writeFileSync(file, 'x');
    const r = cli(startArgs(join(file, 'home')));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a writable directory/);
  });

  await t.test('--role cannot raise the tier', () => {
    const home = tempHome();
    mkdirSync(home, { recursive: true });
    const r = cli([...startArgs(home), '--role', 'trainer'], testEnv({ MAGNET_CPU_TRAINING: 'false' }));
    if (r.code === 0) assert.fail('a CPU-only machine must not take the trainer role');
    assert.match(r.stderr, /--role trainer is not allowed on this machine/);
  });
});

test('profile --json prints the tier and the measured SSD figures', () => {
  const r = cli(['profile', '--home', tempHome(), '--json', '--blocks', '256']);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as {
    tier: string;
    ssd: { readMBps: number; writeMBps: number; blocks: number };
    hardware: { cores: number };
  };
  assert.ok(p.tier.length > 0);
  assert.ok(p.ssd.readMBps > 0 && p.ssd.writeMBps > 0);
  assert.equal(p.ssd.blocks, 256);
  assert.ok(p.hardware.cores >= 1);
});

test('every command has --help', () => {
  for (const args of [
    ['--help'],
    ['start', '--help'],
    ['status', '--help'],
    ['profile', '--help'],
    ['keys', '--help'],
    ['keys', 'create', '--help'],
    ['version', '--help'],
  ]) {
    const r = cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: magnet-node/);
  }
  assert.match(cli(['version']).stdout, /^magnet-node \d+\.\d+\.\d+/);
});
