import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { type RunningDaemon, membersArgs, prepareHomes, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';
import { assertHashNamedFilesIntact } from '../helpers/home-files.js';

/**
 * The one shutdown path, with a real daemon and the real trainer: SIGTERM while the leader's merge job runs. The
 * daemon stops cleanly (exit 0): the merge is cut, its round stays "merging" in a database that opens and checks
 * clean, and no temporary or half-written file is left in its checkpoint folders. Restarted on the same home, it
 * redoes the merge and carries on to later rounds with a consistent checkpoint.
 */
const diloco = {
  preset: 'tiny',
  innerSteps: 4,
  batch: 4,
  seq: 64,
  innerLr: 2e-3,
  warmup: 0,
  // Many held-out windows: the leader's merge (scored on them) runs long enough to be interrupted.
  verifyWindows: 64,
  startDelaySec: 1,
  roundTimeoutSec: 300,
  announceGraceSec: 5,
  threads: 1,
  maxRounds: 2,
};

const running: RunningDaemon[] = [];
after(async () => {
  for (const d of running) await d.kill();
});

interface Status {
  diloco: { latest: { sha256: string; round: number } | null };
}

/** Calls /v1/models and /healthz on the public listener until it stops answering. */
async function pollWhileStopping(d: RunningDaemon): Promise<{ v1: { status: number; body: string }[]; health: number[] }> {
  const seen = { v1: [] as { status: number; body: string }[], health: [] as number[] };
  while (d.proc.exitCode === null && d.proc.signalCode === null) {
    try {
      const [v1, health] = await Promise.all([fetch(`${d.apiUrl}/v1/models`), fetch(`${d.apiUrl}/healthz`)]);
      seen.v1.push({ status: v1.status, body: await v1.text() });
      seen.health.push(health.status);
      await health.arrayBuffer();
    } catch {
      break; // the listener closed: the last part to stop
    }
  }
  return seen;
}

/** Files under `dir` (recursively) with a temporary or partial name. */
function leftovers(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...leftovers(p));
    else if (f.includes('.tmp') || f.endsWith('.part')) out.push(p);
  }
  return out;
}

test(
  'SIGTERM in the middle of a merge: a clean stop with nothing half-written, and the restarted node redoes the merge and carries on',
  { timeout: 600_000 },
  async () => {
    const homes = await prepareHomes(1, 'magnet-shutdown-');
    const { home } = homes[0] as { home: string };
    const config = join(tempHome('magnet-shutdown-config-'), 'config.json');
    writeFileSync(config, JSON.stringify({ diloco, net: { heartbeatSeconds: 1, staleSeconds: 10 } }));
    const env = testEnv({ MAGNET_DILOCO: 'true', MAGNET_CPU_TRAINING: 'true' });
    const args = ['--config', config, ...membersArgs(homes)];

    const first = await startDaemon({ home, env, args });
    running.push(first);
    // The leader logs "merge started" just before its merge job: SIGTERM at once.
    const deadline = Date.now() + 300_000;
    while (!first.output().includes('"msg":"merge started"') && first.proc.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(first.proc.exitCode, null, `the daemon runs until the merge\n${first.output()}`);
    const t0 = Date.now();
    const stopping = first.stop(60_000);
    // While it stops, /v1 takes no work (503 naming the shutdown) and /healthz still answers, until the listener closes.
    const seen = await pollWhileStopping(first);
    const code = await stopping;
    const stopMs = Date.now() - t0;
    const out = first.output();
    assert.equal(code, 0, `a clean stop\n${out.slice(-4000)}`);
    const firstRefusal = seen.v1.findIndex((r) => r.status === 503);
    assert.ok(firstRefusal >= 0, `/v1 answered 503 during the stop (saw ${JSON.stringify(seen.v1.map((r) => r.status))})`);
    assert.match(seen.v1[firstRefusal]?.body ?? '', /shutting down/);
    assert.ok(
      seen.v1.slice(firstRefusal).every((r) => r.status === 503),
      '/v1 takes no work once it refused',
    );
    assert.ok(seen.health.length > 0 && seen.health.every((s) => s === 200), '/healthz answers 200 while the node stops');
    assert.match(out, /merge interrupted by the shutdown/, 'the SIGTERM landed while the merge job ran');
    assert.doesNotMatch(out, /round step failed|merge failed|database connection is not open/, 'nothing ran on after the stop');
    assert.ok(out.indexOf('"msg":"node stopped"') > out.indexOf('merge interrupted by the shutdown'), 'the merge ended before the node');

    const diloco0 = join(home, 'diloco');
    assert.deepEqual(leftovers(diloco0), [], 'no temporary or partial file is left');
    assertHashNamedFilesIntact(home);
    assert.ok(!existsSync(join(home, 'daemon.lock')), 'the home lock is released');
    const db = new Database(join(home, 'state.db'), { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'the database opens and checks clean');
      const row = db.prepare('SELECT state, merged_sha256 AS merged FROM rounds WHERE round = 0').get() as {
        state: string;
        merged: string | null;
      };
      assert.deepEqual(row, { state: 'merging', merged: null }, 'round 0 is left as persisted: merging, nothing proposed');
    } finally {
      db.close();
    }

    // The next start on the same home redoes the merge and reaches a later round.
    const second = await startDaemon({ home, env, args, readyTimeoutMs: 60_000 });
    running.push(second);
    const status = await waitFor(
      async () => {
        const s = await second.get<Status>('/status');
        return (s.diloco.latest?.round ?? -1) >= diloco.maxRounds - 1 && s;
      },
      400_000,
      'the restarted node to certify the later rounds',
    );
    const { outcomes } = await second.get<{ outcomes: { round: number; merged: boolean; sha256: string }[] }>('/diloco/outcomes');
    assert.deepEqual(
      outcomes.map((o) => [o.round, o.merged]),
      [
        [0, true],
        [1, true],
      ],
      'the interrupted round was merged after the restart, not abandoned',
    );
    const latest = status.diloco.latest as { sha256: string };
    assert.equal(latest.sha256, outcomes[1]?.sha256);
    assert.ok(existsSync(join(diloco0, 'checkpoints', `${latest.sha256}.safetensors`)), 'the latest checkpoint is on disk');
    assertHashNamedFilesIntact(home);
    assert.equal(await second.stop(), 0);
    assert.deepEqual(leftovers(diloco0), []);
    console.log(`stopped ${stopMs} ms after SIGTERM mid-merge`);
  },
);
