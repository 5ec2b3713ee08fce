import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Wallet } from 'ethers';
import { openStateDb } from '../db/database.js';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import { createLogger } from '../log/logger.js';
import { type ResolvedConfig, resolveConfig } from './hparams.js';
import { parsePlan, planHash } from './plan.js';
import type { ResearchPeers, ResearchStorage, TrainerCall } from './ports.js';
import { jobDigestHex, signRecord, TRIAL_CREDIT_BASE } from './records.js';
import { researchMigrations, ResearchRepo } from './research-repo.js';
import { ResearchRunner } from './runner.js';
import { TrialWorker } from './worker.js';

/**
 * The loop's rules on one node, its trainer replaced by a loss formula (the trainer and the network are exercised
 * by test/e2e/research.test.ts): phases close into findings, the best is carried, a config run before is reused,
 * convergence skips to the final validation, the budget stops a run.
 */
function harness(loss: (c: ResolvedConfig, steps: number) => number) {
  const db = openStateDb(':memory:', researchMigrations).db;
  const repo = new ResearchRepo(db);
  const dir = mkdtempSync(join(tmpdir(), 'magnet-runner-'));
  let runs = 0;
  const trainer: TrainerCall = async (args) => {
    const cfg = JSON.parse(args[args.indexOf('--config') + 1] as string) as ResolvedConfig;
    const steps = Number(args[args.indexOf('--steps') + 1]);
    runs++;
    const l = loss(resolveConfig(cfg), steps);
    return { checkpoint_sha256: 'c'.repeat(64), eval_loss: l, test_loss: l + 0.01, curve: [[steps, l]], tokens: 10, seconds: 1, params: 1 };
  };
  const peers: ResearchPeers = {
    livePeers: () => [],
    isStale: () => true,
    offerTrial: async () => ({ accepted: false, reason: 'none' }),
    reportTrial: async () => ({ accepted: false, reason: 'none' }),
    creditTrials: async () => ({ accepted: false, reason: 'none' }),
  };
  const storage = {
    put: async () => ({ manifestId: 'm' }),
    get: async () => undefined,
    describe: async () => ({ sha256: 'c'.repeat(64), size: 1000 }),
  };
  const signer = { nodeId: 'node-0000000000000001', sign: () => Buffer.alloc(65, 1) };
  const log = createLogger('error');
  const self = { nodeId: signer.nodeId, roles: ['trainer'] };
  const worker = new TrialWorker({
    self,
    acceptTrials: true,
    maxTrialSteps: 1000,
    maxTrialParams: 1e9,
    maxTrialTokens: 1e12,
    maxTrialSeconds: 3600,
    allowedData: ['generated'],
    repo,
    peers,
    storage,
    trainer,
    signer,
    dir,
    log,
  });
  const runner = new ResearchRunner({ self, trainsItself: true, repo, peers, storage, trainer, worker, signer, dir, log, env: {} });
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 500 && !cond(); i++) {
      await runner.tick();
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(cond(), 'the run did not get there');
  };
  return { repo, runner, until, runs: () => runs };
}

const plan = (over: Record<string, unknown> = {}) =>
  parsePlan(
    JSON.stringify({
      magnetResearch: 1,
      name: 'unit',
      base: { lr: 0.001, context: 64 },
      data: 'generated',
      budget: { steps: 10, maxTrials: 50, maxHours: 1 },
      phases: [
        { name: 'lr', rule: { param: 'lr', times: [0.5, 2] } },
        { name: 'context', vary: [{ context: 32 }, { context: 128 }] },
        { name: 'final', final: { top: 2, stepsFactor: 2 } },
      ],
      convergence: { patience: 2, epsilon: 0.01 },
      ...over,
    }),
    'unit plan',
  );

test('phases close into findings, the best is carried, the final re-runs the top and the base at twice the steps', async () => {
  // Lower is better at a higher lr and a longer context.
  const h = harness((c, steps) => 3 - c.lr * 100 - c.context / 1000 - steps / 1000);
  const p = plan();
  const run = h.runner.start(p, planHash(p));
  await h.until(() => h.repo.run(run.runId)?.state === 'done');
  const done = h.repo.run(run.runId);
  assert.equal(done?.stopReason, 'plan complete');
  const best = JSON.parse(done?.bestConfig as string) as { lr: number; context: number };
  assert.deepEqual([best.lr, best.context], [0.002, 128]);
  const phases = h.repo.findings(run.runId).filter((f) => f.kind === 'phase');
  assert.deepEqual(
    phases.map((f) => (JSON.parse(f.body) as { phase: string }).phase),
    ['base', 'lr', 'context', 'final'],
  );
  const final = h.repo.trials(run.runId, 3);
  assert.equal(final.length, 3, 'top 2 and the base');
  assert.ok(final.every((t) => t.steps === 20));
  const result = JSON.parse(h.repo.findings(run.runId).find((f) => f.kind === 'result')?.body as string) as { testImprovement: number };
  assert.ok(result.testImprovement > 0);
});

test('convergence: phases that gain less than epsilon skip to the final validation', async () => {
  // Nothing but the step count matters: every phase gains 0%.
  const h = harness((_c, steps) => 2 - steps / 1000);
  const p = plan({
    phases: [
      { name: 'lr', rule: { param: 'lr', times: [0.5, 2] } },
      { name: 'context', vary: [{ context: 32 }] },
      { name: 'beta2', vary: [{ beta2: 0.98 }] },
      { name: 'final', final: { top: 1, stepsFactor: 2 } },
    ],
  });
  const run = h.runner.start(p, planHash(p));
  await h.until(() => h.repo.run(run.runId)?.state === 'done');
  const kinds = h.repo.findings(run.runId).map((f) => (JSON.parse(f.body) as { kind: string; phase?: string }).phase ?? f.kind);
  assert.deepEqual(kinds, ['base', 'lr', 'context', 'converged', 'final', 'result']);
});

test('the budget stops a run; a config already run is reused, not rerun', async () => {
  const h = harness((c) => 3 - c.lr * 100);
  const p = plan({
    budget: { steps: 10, maxTrials: 3, maxHours: 1 },
    phases: [
      { name: 'lr', rule: { param: 'lr', times: [0.5, 2] } },
      { name: 'again', vary: [{}] },
      { name: 'more', vary: [{ lr: 0.004 }, { lr: 0.008 }] },
    ],
  });
  const run = h.runner.start(p, planHash(p));
  await h.until(() => h.repo.run(run.runId)?.state === 'done');
  assert.equal(h.repo.run(run.runId)?.stopReason, 'budget spent: maxTrials');
  const again = h.repo.trials(run.runId, 2);
  assert.match(again[0]?.note ?? '', /^reused p1-/);
  assert.equal(h.runs(), 3, 'base and 2 lr; "again" reuses, "more" would pass the budget');
  assert.equal(h.repo.trials(run.runId, 3).length, 0);
});

/** One research node (not training itself) and one remote worker, on a clock the test moves. */
function remoteHarness(storage: ResearchStorage) {
  const w = Wallet.createRandom().signingKey;
  const worker = nodeIdFromPublicKey(w.compressedPublicKey);
  const offers: { trialId: string; digest: string; creditRound: number }[] = [];
  const clock = { now: 1_000_000 };
  const db = openStateDb(':memory:', researchMigrations).db;
  const repo = new ResearchRepo(db);
  const dir = mkdtempSync(join(tmpdir(), 'magnet-runner-'));
  const peers: ResearchPeers = {
    livePeers: () => [{ nodeId: worker, roles: ['trainer'], member: true }],
    isStale: () => false,
    offerTrial: async (_to, rec) => {
      const job = JSON.parse(rec.body.toString()) as { trialId: string; creditRound: number };
      offers.push({ trialId: job.trialId, digest: jobDigestHex(rec), creditRound: job.creditRound });
      return { accepted: true, reason: '' };
    },
    reportTrial: async () => ({ accepted: true, reason: '' }),
    creditTrials: async () => ({ accepted: true, reason: '' }),
  };
  const signer = { nodeId: 'node-0000000000000001', sign: () => Buffer.alloc(65, 1) };
  const log = createLogger('error');
  const self = { nodeId: signer.nodeId, roles: ['storage'] };
  const trainer: TrainerCall = async () => {
    throw new Error('the trainer is not called in this test');
  };
  const tw = new TrialWorker({
    self,
    acceptTrials: false,
    maxTrialSteps: 1,
    maxTrialParams: 1,
    maxTrialTokens: 1,
    maxTrialSeconds: 1,
    allowedData: [],
    repo,
    peers,
    storage,
    trainer,
    signer,
    dir,
    log,
  });
  const runner = new ResearchRunner({
    self,
    trainsItself: false,
    repo,
    peers,
    storage,
    trainer,
    worker: tw,
    signer,
    dir,
    log,
    env: {},
    now: () => clock.now,
  });
  const report = (runId: string, job: string, over: Record<string, unknown> = {}) =>
    runner.acceptResult(
      worker,
      signRecord(
        'trial-result',
        {
          v: 1,
          runId,
          trialId: 'p0-c0-s0',
          worker,
          job,
          checkpointSha256: 'c'.repeat(64),
          manifestId: '',
          evalLoss: 2,
          testLoss: 2,
          curve: [],
          tokens: 1,
          seconds: 1,
          params: 1,
          ...over,
        },
        (d) => signDigest(w, d),
      ),
    );
  const fail = (runId: string, job: string, key = w) =>
    runner.acceptResult(
      worker,
      signRecord('trial-failed', { v: 1, runId, trialId: 'p0-c0-s0', worker, job, error: 'trainer exited with code 137' }, (d) =>
        signDigest(key, d),
      ),
    );
  return { worker, offers, clock, repo, runner, report, fail };
}

const noStorage: ResearchStorage = {
  put: async () => ({ manifestId: 'm' }),
  get: async () => undefined,
  describe: async () => ({ sha256: 'c'.repeat(64), size: 1000 }),
};

test('a result under an earlier offer counts when its slow worker answers before anyone else; an unknown job does not', async () => {
  const { offers, clock, repo, runner, report } = remoteHarness(noStorage);
  const p = plan({ trialTimeoutSec: 60 });
  const run = runner.start(p, planHash(p));
  await runner.tick();
  assert.equal(offers.length, 1);
  clock.now += 61_000; // past the deadline: reassigned (to the same, only, worker under a new job)
  await runner.tick();
  assert.equal(offers.length, 2);
  assert.notEqual(offers[0]?.digest, offers[1]?.digest);
  // A trial another node runs has one ledger round for its receipt, the same under every offer of it.
  assert.deepEqual(
    offers.map((o) => o.creditRound),
    [TRIAL_CREDIT_BASE + 1, TRIAL_CREDIT_BASE + 1],
  );
  assert.match(report(run.runId, 'd'.repeat(64)).reason, /^not_assigned/);
  assert.deepEqual(report(run.runId, offers[0]?.digest as string), { accepted: true, reason: '' });
  assert.equal(repo.trial(run.runId, 'p0-c0-s0')?.state, 'reported');
  // The newer offer's result now comes too late: the trial is no longer waiting for it.
  assert.match(report(run.runId, offers[1]?.digest as string).reason, /^not_assigned/);
});

test('a result naming a stored blob far larger than its model refuses its worker before a byte of it is fetched', async () => {
  let fetched = 0;
  const storage: ResearchStorage = {
    put: async () => ({ manifestId: 'm' }),
    get: async () => void fetched++,
    describe: async () => ({ sha256: 'c'.repeat(64), size: 50 * 2 ** 30 }),
  };
  const { worker, offers, repo, runner, report } = remoteHarness(storage);
  const p = plan({ verify: { sampleRate: 1, tolerance: 0.001 } });
  const run = runner.start(p, planHash(p));
  await runner.tick();
  assert.deepEqual(report(run.runId, offers[0]?.digest as string, { manifestId: 'a'.repeat(64) }), { accepted: true, reason: '' });
  for (let i = 0; i < 20 && repo.refusedWorkers(run.runId).length === 0; i++) {
    await runner.tick();
    await new Promise((r) => setTimeout(r, 20));
  }
  const refused = repo.refusedWorkers(run.runId);
  assert.deepEqual(
    refused.map((r) => r.nodeId),
    [worker],
  );
  assert.match(
    refused[0]?.reason ?? '',
    /^trial p0-c0-s0: too_large: the stored checkpoint is 53687091200 bytes, the job's model fits in \d+/,
  );
  assert.equal(fetched, 0, 'nothing downloaded');
});

test('a worker that says its trial failed gets it reassigned at once, not at the deadline; given up after three attempts', async () => {
  const { offers, clock, repo, runner, fail } = remoteHarness(noStorage);
  const p = plan({ trialTimeoutSec: 3600 });
  const run = runner.start(p, planHash(p));
  const trial = () => repo.trial(run.runId, 'p0-c0-s0');
  await runner.tick();
  assert.equal(offers.length, 1);
  assert.match(fail(run.runId, 'd'.repeat(64)).reason, /^not_assigned/, 'only under the job it holds');
  assert.match(fail(run.runId, offers[0]?.digest as string, Wallet.createRandom().signingKey).reason, /^wrong_author/);
  assert.deepEqual(fail(run.runId, offers[0]?.digest as string), { accepted: true, reason: '' });
  assert.equal(trial()?.state, 'queued');
  assert.match(trial()?.note ?? '', /^failed on node-[0-9a-f]+: trainer exited with code 137/);
  for (let attempt = 2; attempt <= 3; attempt++) {
    clock.now += 31_000; // the only worker, past its cooldown
    await runner.tick();
    assert.equal(offers.length, attempt);
    assert.deepEqual(fail(run.runId, offers[attempt - 1]?.digest as string), { accepted: true, reason: '' });
  }
  assert.equal(trial()?.state, 'failed', 'given up after three attempts');
});
