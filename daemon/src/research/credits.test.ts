import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Wallet } from 'ethers';
import { chainMigrations, ContributionStore } from '../chain/claim-store.js';
import { openStateDb } from '../db/database.js';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import { createLogger } from '../log/logger.js';
import { MagnetError } from '../util/errors.js';
import { TrialCredits } from './credits.js';
import { resolveConfig, trialTokens } from './hparams.js';
import type { CreditBook, ResearchAck, ResearchPeers } from './ports.js';
import { type CreditReceipt, openRecord, type SignedRecord, signRecord, TRIAL_CREDIT_BASE } from './records.js';
import { researchMigrations, ResearchRepo } from './research-repo.js';

/**
 * Trial credits, both sides, over real SQLite (research and chain tables): which trials of an ended run earn their
 * worker a receipt, how receipts are sent until the worker takes them, and what a worker refuses. The chain part's
 * signing and the claim on a real EVM node are exercised by test/e2e/research-credits.test.ts.
 */
const log = createLogger('error');
const key = () => {
  const w = Wallet.createRandom().signingKey;
  return { key: w, nodeId: nodeIdFromPublicKey(w.compressedPublicKey), sign: (d: Buffer) => signDigest(w, d) };
};
const researcher = key();
const worker = key();
const other = key();
const config = { preset: 'tiny', context: 32, batch: 2 } as const;
const tokens = trialTokens(resolveConfig(config), 10);
const ckpt = 'a'.repeat(64);

function receipt(extra: Partial<CreditReceipt> = {}): CreditReceipt {
  return {
    nodeId: worker.nodeId,
    node: '0x' + '22'.repeat(20),
    epoch: 3,
    round: TRIAL_CREDIT_BASE + 1,
    checkpointHash: '0x' + '00'.repeat(32),
    gradientHash: `0x${ckpt}`,
    tokens,
    score: 1_000_000,
    leader: '0x' + '33'.repeat(20),
    leaderSignature: '0x' + '11'.repeat(65),
    ...extra,
  };
}

function run(repo: ResearchRepo, runId: string, state: 'running' | 'done') {
  repo.insertRun({
    runId,
    name: 'p',
    plan: '{}',
    planHash: 'h',
    phases: '[]',
    state,
    phaseIndex: 0,
    bestConfig: '{}',
    bestEval: null,
    history: '[]',
    proposals: 0,
    secret: 's',
    stopReason: null,
    startedAt: 1,
    updatedAt: 1,
  });
}

function trial(repo: ResearchRepo, runId: string, trialId: string, assignee: string, n: number, state: 'done' | 'failed' = 'done') {
  repo.insertTrial({ runId, trialId, phaseIndex: 0, config: JSON.stringify(config), configKey: trialId, seed: 0, steps: 10, state });
  repo.updateTrial(runId, trialId, { assignee, checkpointSha256: ckpt, tokens: 1, creditRound: TRIAL_CREDIT_BASE + n });
}

test('an ended run credits each counted trial of another node once; its own trials, a refused worker and a running run earn nothing', () => {
  const db = openStateDb(':memory:', [...researchMigrations, ...chainMigrations]).db;
  const repo = new ResearchRepo(db);
  const contributions = new ContributionStore(db);
  const book: CreditBook = { record: (c) => contributions.record(c), receipts: async () => [], accept: async () => 0 };
  const peers = {} as ResearchPeers;
  const credits = new TrialCredits({ self: researcher, repo, peers, signer: researcher, book, log });
  run(repo, 'r1', 'done');
  trial(repo, 'r1', 'honest', worker.nodeId, 1);
  trial(repo, 'r1', 'mine', researcher.nodeId, 2); // offered to another node first, then run here
  trial(repo, 'r1', 'liar', other.nodeId, 3);
  trial(repo, 'r1', 'lost', worker.nodeId, 4, 'failed');
  repo.refuseWorker('r1', other.nodeId, 'eval loss off');
  run(repo, 'r2', 'running');
  trial(repo, 'r2', 'later', worker.nodeId, 5);

  assert.equal(credits.settle(), 1);
  const rows = contributions.all();
  assert.equal(rows.length, 1);
  assert.deepEqual(
    { round: rows[0]?.round, nodeId: rows[0]?.nodeId, tokens: rows[0]?.tokens, hash: rows[0]?.gradientSha256, verified: rows[0]?.verified },
    // The tokens are the job's (steps x batch x grad_accum x context), not the 1 the worker reported.
    { round: TRIAL_CREDIT_BASE + 1, nodeId: worker.nodeId, tokens, hash: ckpt, verified: true },
  );
  const state = (runId: string, id: string) => {
    const t = repo.trial(runId, id);
    return [t?.creditState ?? null, t?.creditNote ?? null];
  };
  assert.deepEqual(state('r1', 'honest'), ['recorded', null]);
  assert.deepEqual(state('r1', 'mine'), ['none', 'run by this node']);
  assert.equal(state('r1', 'liar')[0], 'none');
  assert.match(String(state('r1', 'liar')[1]), /was refused in this run/);
  assert.deepEqual(state('r1', 'lost'), [null, null]);
  assert.deepEqual(state('r2', 'later'), [null, null]);
  assert.equal(credits.settle(), 0, 'settled once');
  // A reused trial copies a prior trial's result, never its credit.
  repo.insertTrial({
    ...(repo.trial('r1', 'honest') as NonNullable<ReturnType<ResearchRepo['trial']>>),
    trialId: 'reused',
    note: 'reused honest',
  });
  assert.equal(repo.trial('r1', 'reused')?.creditRound, null);
});

test('the research node sends each worker its signed receipts until it takes them; a worker with no chain is asked again later', async () => {
  const db = openStateDb(':memory:', [...researchMigrations, ...chainMigrations]).db;
  const repo = new ResearchRepo(db);
  const contributions = new ContributionStore(db);
  let signed: CreditReceipt[] = [];
  const book: CreditBook = { record: (c) => contributions.record(c), receipts: async () => signed, accept: async () => 0 };
  const sent: SignedRecord[] = [];
  let answer: ResearchAck = { accepted: false, reason: 'chain_not_configured: no chain configured on this node' };
  const peers = {
    creditTrials: async (to: string, rec: SignedRecord) => {
      assert.equal(to, worker.nodeId);
      sent.push(rec);
      return answer;
    },
  } as unknown as ResearchPeers;
  let now = 1_000_000;
  const credits = new TrialCredits({ self: researcher, repo, peers, signer: researcher, book, log, now: () => now });
  run(repo, 'r1', 'done');
  trial(repo, 'r1', 'honest', worker.nodeId, 1);

  await credits.tick();
  assert.equal(sent.length, 0, 'nothing is sent before the chain part signed the receipt');
  assert.equal(repo.trial('r1', 'honest')?.creditState, 'recorded');
  signed = [receipt()];
  now += 61_000;
  await credits.tick();
  assert.equal(sent.length, 1);
  const body = openRecord(sent[0] as SignedRecord, 'trial-credits', 'researcher', researcher.nodeId);
  assert.deepEqual(body['receipts'], [receipt()]);
  assert.equal(repo.trial('r1', 'honest')?.creditState, 'recorded', 'the worker had no chain: the credit waits');
  now += 61_000;
  await credits.tick();
  assert.equal(sent.length, 1, 'not asked again within the quarter hour');
  now += 15 * 60_000;
  answer = { accepted: true, reason: 'queued 1 of 1' };
  await credits.tick();
  assert.equal(sent.length, 2);
  assert.deepEqual([repo.trial('r1', 'honest')?.creditState, repo.trial('r1', 'honest')?.creditNote], ['delivered', 'queued 1 of 1']);
  now += 15 * 60_000;
  await credits.tick();
  assert.equal(sent.length, 2, 'delivered once');
  assert.deepEqual(repo.creditCounts(), { delivered: 1 });
});

test('a worker takes receipts only for a trial it ran for that research node, with its checkpoint and at most its tokens', async () => {
  const db = openStateDb(':memory:', [...researchMigrations, ...chainMigrations]).db;
  const repo = new ResearchRepo(db);
  const taken: CreditReceipt[][] = [];
  let chain: 'up' | 'none' = 'up';
  const book: CreditBook = {
    record: () => undefined,
    receipts: async () => [],
    accept: async (list) => {
      if (chain === 'none') throw new MagnetError('ERR_CHAIN_NOT_CONFIGURED', 'no chain configured on this node');
      taken.push([...list]);
      return list.length;
    },
  };
  const credits = new TrialCredits({ self: worker, repo, peers: {} as ResearchPeers, signer: worker, book, log });
  repo.served('d'.repeat(64), {
    runId: 'r1',
    trialId: 't1',
    researcher: researcher.nodeId,
    state: 'reported',
    tokens,
    creditRound: TRIAL_CREDIT_BASE + 1,
    checkpointSha256: ckpt,
  });
  const send = (from: typeof researcher, receipts: CreditReceipt[], named = from.nodeId) =>
    credits.accept(from.nodeId, signRecord('trial-credits', { v: 1, researcher: named, receipts }, from.sign));

  assert.match((await send(other, [receipt()])).reason, /^not_served: this node ran no trial for node-/);
  assert.match((await send(other, [receipt()], researcher.nodeId)).reason, /^wrong_author/);
  assert.match((await send(researcher, [receipt({ round: TRIAL_CREDIT_BASE + 9 })])).reason, /^not_served/);
  assert.match((await send(researcher, [receipt({ gradientHash: '0x' + 'b'.repeat(64) })])).reason, /^wrong_checkpoint/);
  assert.match((await send(researcher, [receipt({ tokens: tokens + 1 })])).reason, /^too_many_tokens/);
  assert.match((await send(researcher, [receipt({ nodeId: other.nodeId })])).reason, /^wrong_node/);
  assert.match((await send(researcher, [receipt({ round: 7 })])).reason, /^bad_field: receipts\[0\]\.round/);
  assert.equal(taken.length, 0, 'nothing reached the claim queue');
  chain = 'none';
  assert.match((await send(researcher, [receipt()])).reason, /^chain_not_configured/);
  chain = 'up';
  // Another member offered this node a job naming the same ledger round, later: it must not hide the real trial.
  repo.served('e'.repeat(64), {
    runId: 'r9',
    trialId: 't9',
    researcher: other.nodeId,
    state: 'reported',
    tokens,
    creditRound: TRIAL_CREDIT_BASE + 1,
    checkpointSha256: 'f'.repeat(64),
  });
  assert.deepEqual(await send(researcher, [receipt()]), { accepted: true, reason: 'queued 1 of 1' });
  assert.deepEqual(taken, [[receipt()]]);
});
