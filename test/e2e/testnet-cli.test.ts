import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, tempHome } from '../helpers/daemon.js';

/** Runs `magnet-node testnet ...` and collects its output and exit code. */
function testnet(args: string[], onLine?: (line: string, kill: (sig: NodeJS.Signals) => void) => void) {
  const proc = spawn(process.execPath, [CLI, 'testnet', ...args], {
    env: { ...process.env, MAGNET_PASSPHRASE: 'test-passphrase' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const feed = (d: Buffer) => {
    out += d.toString();
    for (const line of d.toString().split('\n')) if (line) onLine?.(line, (sig) => proc.kill(sig));
  };
  proc.stdout.on('data', feed);
  proc.stderr.on('data', feed);
  return new Promise<{ code: number | null; out: string }>((resolve) => proc.once('exit', (code) => resolve({ code, out })));
}

/** A daemon that stopped cleanly removed its api.json and lock, and logged its stop. */
function assertStoppedCleanly(dir: string, i: number): void {
  const home = join(dir, `node-${i}`);
  assert.equal(existsSync(join(home, 'api.json')), false, `node ${i} removed api.json`);
  assert.equal(existsSync(join(home, 'daemon.lock')), false, `node ${i} released its lock`);
  assert.match(readFileSync(join(home, 'daemon.log'), 'utf8'), /"node stopped"/, `node ${i} logged a clean stop`);
}

test(
  'magnet-node testnet --chain runs two daemons through a round to identical checkpoints, settles the claim on a local chain and exits 0',
  { timeout: 900_000 },
  async () => {
    const dir = tempHome('magnet-testnet-');
    const { code, out } = await testnet(['--nodes', '2', '--rounds', '1', '--H', '4', '--dir', dir, '--chain']);
    assert.equal(code, 0, out);
    assert.match(out, /local chain at http:\/\/127\.0\.0\.1:\d+ \(anvil, chain id 31337\)/);
    assert.match(out, /node 1 ready at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(out, /node 2 registered on chain as 0x[0-9a-fA-F]{40}/);
    assert.match(out, /trained round 0: loss \d+\.\d+ -> \d+\.\d+/);
    assert.match(out, /1 rounds done; final checkpoint identical on every node: [0-9a-f]{64}/);
    // The leader signs the other node's receipt; that claim is committed, revealed and paid.
    assert.match(out, /claims: paid 1/);
    assert.match(out, /round +0 +paid +reward \d+(\.\d+)? MAG/);
    assert.match(out, /1 claims settled and paid on chain/);
    for (const i of [1, 2]) assertStoppedCleanly(dir, i);
  },
);

test('Ctrl-C stops every testnet daemon cleanly', { timeout: 120_000 }, async () => {
  const dir = tempHome('magnet-testnet-');
  let ready = 0;
  const { code, out } = await testnet(['--nodes', '2', '--rounds', '0', '--dir', dir], (line, kill) => {
    if (/node \d ready at/.test(line) && ++ready === 2) kill('SIGINT');
  });
  assert.equal(code, 0, out);
  assert.match(out, /stopping every node/);
  for (const i of [1, 2]) assertStoppedCleanly(dir, i);
});
