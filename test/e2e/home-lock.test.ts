import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { test } from 'node:test';
import { waitReady } from '../../daemon/src/testnet/testnet.js';
import { CLI, type PreparedHome, loopbackStartArgs, prepareHomes, startDaemon, testEnv } from '../helpers/daemon.js';

/**
 * The home lock is an OS lock held for the daemon's life: two daemons started on one home at the same moment (two
 * child processes spawned together, several times over) never both run, and the loser says who holds the home; a
 * holder killed with SIGKILL does not block the next start (the kernel dropped its lock).
 */

interface Run {
  proc: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function spawnDaemon(home: string): Run {
  const proc = spawn(process.execPath, [CLI, ...loopbackStartArgs(home)], { env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, out: () => out, exited };
}

async function stop(r: Run): Promise<number | null> {
  if (r.proc.exitCode !== null) return r.proc.exitCode;
  r.proc.kill('SIGTERM');
  const timer = setTimeout(() => r.proc.kill('SIGKILL'), 15_000);
  const code = await r.exited;
  clearTimeout(timer);
  return code;
}

test(
  'two daemons started on one home at the same moment: exactly one runs, the other exits non-zero naming the holder',
  { timeout: 300_000 },
  async () => {
    const { home } = (await prepareHomes(1, 'magnet-lock-'))[0] as PreparedHome;
    for (let trial = 0; trial < 5; trial++) {
      const pair = [spawnDaemon(home), spawnDaemon(home)];
      // The loser exits on its own, quickly; the winner stays up.
      const loserIndex = await Promise.race(pair.map((r, i) => r.exited.then(() => i)));
      const loser = pair[loserIndex] as Run;
      const winner = pair[1 - loserIndex] as Run;
      try {
        assert.notEqual(loser.proc.exitCode, 0, `trial ${trial}: the second daemon exits non-zero\n${loser.out()}`);
        assert.match(loser.out(), new RegExp(`home .* is in use by pid ${winner.proc.pid}`), `trial ${trial}: it names the holder`);
        await waitReady(home, winner.proc, 60_000);
        assert.equal(winner.proc.exitCode, null, `trial ${trial}: the winner runs`);
      } finally {
        assert.equal(await stop(winner), 0, `trial ${trial}: the winner stops cleanly\n${winner.out()}`);
      }
    }
  },
);

test('a holder killed with SIGKILL does not block the next start', { timeout: 120_000 }, async () => {
  const { home } = (await prepareHomes(1, 'magnet-lock-'))[0] as PreparedHome;
  const first = await startDaemon({ home });
  await first.kill();
  const second = await startDaemon({ home });
  try {
    const status = await second.get<{ ready: boolean }>('/status');
    assert.equal(status.ready, true);
  } finally {
    assert.equal(await second.stop(), 0);
  }
});
