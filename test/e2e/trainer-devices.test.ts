import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { TrainerJobs, type TrainResult } from '../../daemon/src/diloco/trainer-jobs.js';
import { isMagnetError } from '../../daemon/src/util/errors.js';
import { makeCluster, testDilocoOptions } from '../helpers/coordinators.js';
import { tempHome, waitFor } from '../helpers/daemon.js';

/**
 * Training data parallel (diloco.devices 2: `train --devices 2`, two gloo ranks on the CPU under torchrun) with the
 * real trainer, and its faults as the daemon sees them: a rank killed mid-train fails the job with
 * ERR_TRAINER_RANK_FAILED and no file; an aborted job leaves no rank behind; a round whose training failed that way
 * trains again on the next step of the round loop and completes.
 */
const opts = testDilocoOptions({
  devices: 2,
  innerSteps: 3,
  batch: 4,
  seq: 32,
  data: 'generated',
  threads: 1,
  python: process.env['MAGNET_PYTHON'] ?? '', // empty: the repository's .venv
});
const silent = pino({ level: 'silent' });

/** True once no process has `text` in its command line (the launcher, torchrun and the ranks all carry --out). */
async function noProcessNames(text: string): Promise<boolean> {
  return waitFor(
    async () => {
      try {
        execFileSync('pgrep', ['-f', text]);
        return undefined;
      } catch {
        return true; // pgrep exits 1: none
      }
    },
    20_000,
    `no process naming ${text}`,
  );
}

test(
  'a rank killed mid-train fails the job cleanly (ERR_TRAINER_RANK_FAILED, no file); the retry trains from the untouched state',
  { timeout: 300_000 },
  async () => {
    const dir = tempHome('magnet-devices-');
    const marker = join(dir, 'marker');
    // rank 0 dies: the launcher answers for it (the Python tests kill rank 1)
    const jobs = new TrainerJobs(
      opts,
      silent,
      { ...process.env, MAGNET_TRAINER_CRASH_AT: `train:rank0:step1@${marker}` },
      { index: 0, count: 1 },
    );
    try {
      const base = join(dir, 'base.safetensors');
      await jobs.init(base);
      const p = { base, state: join(dir, 'local.safetensors'), out: join(dir, 'grad.safetensors'), nodeId: 'node-test' };
      await assert.rejects(jobs.train(p), (err: unknown) => isMagnetError(err, 'ERR_TRAINER_RANK_FAILED'));
      assert.ok(existsSync(marker), 'rank 0 was killed');
      assert.deepEqual(readdirSync(dir).sort(), ['base.safetensors', 'marker'], 'no gradient, no state, no temp file');
      assert.ok(await noProcessNames(p.out), 'no rank outlived the job');

      const r: TrainResult = await jobs.train(p); // the marker keeps rank 0 alive this time
      assert.equal(r.steps, 3);
      assert.equal(r.tokens, 3 * 4 * 32, 'the global batch: 2 ranks x 2 sequences');
      assert.ok(Number.isFinite(r.lossFirst) && r.lossLast < r.lossFirst, `${r.lossFirst} -> ${r.lossLast}`);
      assert.deepEqual(readdirSync(dir).sort(), ['base.safetensors', 'grad.safetensors', 'local.safetensors', 'marker']);
    } finally {
      jobs.close();
    }
  },
);

test('an aborted data-parallel job stops the launcher, torchrun and both ranks', { timeout: 300_000 }, async () => {
  const dir = tempHome('magnet-devices-abort-');
  const abort = new AbortController();
  const jobs = new TrainerJobs({ ...opts, innerSteps: 1000 }, silent, process.env, { index: 0, count: 1 }, (e) => {
    if (e.event === 'progress') abort.abort(); // the ranks are training
  });
  try {
    const base = join(dir, 'base.safetensors');
    await jobs.init(base);
    const p = {
      base,
      state: join(dir, 'local.safetensors'),
      out: join(dir, 'grad.safetensors'),
      nodeId: 'node-test',
      signal: abort.signal,
    };
    await assert.rejects(jobs.train(p), (err: unknown) => isMagnetError(err, 'ERR_TRAINER_ABORTED'));
    assert.ok(await noProcessNames(p.out), 'no rank outlived the aborted job');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f !== 'base.safetensors'),
      [],
      'nothing written',
    );
  } finally {
    jobs.close();
  }
});

test('a round whose data-parallel training lost a rank trains again and completes', { timeout: 600_000 }, async () => {
  const marker = join(tempHome('magnet-devices-round-'), 'marker');
  process.env['MAGNET_TRAINER_CRASH_AT'] = `train:rank1:step1@${marker}`; // the cluster's trainer jobs run with process.env
  const { coordinators, logFile } = makeCluster(1, { ...opts, maxRounds: 1 });
  const a = coordinators[0] as NonNullable<(typeof coordinators)[0]>;
  try {
    await a.tick(); // genesis + announcement: training starts in the background
    const genesis = (a.status()['latest'] as { sha256: string }).sha256;
    await waitFor(
      async () => {
        await a.tick();
        const latest = a.status()['latest'] as { sha256: string } | null;
        return latest && latest.sha256 !== genesis ? true : undefined;
      },
      500_000,
      'the round to merge',
    );
    assert.ok(existsSync(marker), 'a rank was killed in the first try');
    const lines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; err?: string });
    const failed = lines.filter((l) => l.msg === 'local training failed');
    assert.equal(failed.length, 1, 'one failed try');
    assert.match(failed[0]?.err ?? '', /data-parallel rank failed/);
    assert.equal(lines.filter((l) => l.msg === 'local training done').length, 1, 'then one that trained the gradient');
  } finally {
    delete process.env['MAGNET_TRAINER_CRASH_AT'];
    await a.stop();
  }
});
