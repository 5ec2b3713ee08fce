import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { attach } from '../../daemon/src/chain/deploy.js';
import { startLocalChain, type LocalChain } from '../../daemon/src/chain/local-chain.js';
import { makeProvider } from '../../daemon/src/chain/provider.js';
import { TRIAL_CREDIT_BASE } from '../../daemon/src/research/records.js';
import { CLI, type RunningDaemon, prepareHomes, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';

const run = promisify(execFile);

/**
 * Trials run for others become claims, on a real local EVM chain: a research node runs a plan on two registered
 * trainers (itself and b); when the run ends, the research node signs a receipt for each trial b ran, as leader of
 * that trial's own ledger round, and sends them to b; b checks each against the trial it ran and queues the claims;
 * the ledger takes the first: b commits and reveals it.
 */
const plan = {
  magnetResearch: 1,
  name: 'credits',
  base: { preset: 'tiny', n_layers: 2, context: 32, batch: 2, lr: 0.002 },
  data: 'generated',
  evaluation: { evalWindows: 4, testWindows: 4 },
  budget: { steps: 10, maxTrials: 10, maxHours: 1 },
  phases: [{ name: 'learning rate', rule: { param: 'lr', times: [0.5, 2, 4] } }],
  seeds: [0],
  convergence: { patience: 3, epsilon: 0.002 },
  verify: { sampleRate: 0.5, tolerance: 0.02 },
  trialTimeoutSec: 120,
};

interface Claim {
  state: string;
  epoch: string;
  receipt: { round: string | number; leader: string; node: string; tokens: string | number; score: string | number };
}

let local: LocalChain | undefined;
const running: RunningDaemon[] = [];
after(async () => {
  for (const d of running) await d.kill();
  await local?.stop();
});

test('trials a node ran for a research node become claims it commits and reveals on chain', { timeout: 900_000 }, async () => {
  const dir = tempHome('magnet-research-credits-');
  local = await startLocalChain(dir);
  const homes = await prepareHomes(2, 'magnet-research-credits-');
  await local.fund(homes.map((h) => h.address));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ net: { heartbeatSeconds: 1, staleSeconds: 10 }, research: { tickSeconds: 1, trialThreads: 1 } }));
  const env = testEnv({
    ...local.env,
    MAGNET_CPU_TRAINING: 'true',
    MAGNET_CHAIN_POLL_MS: '200',
    MAGNET_CHAIN_RETRY_BASE_MS: '100',
    MAGNET_CHAIN_RETRY_MAX_MS: '500',
  });
  const [ha, hb] = homes as [(typeof homes)[0], (typeof homes)[0]];
  const args = (boot?: string) => ['--config', config, ...(boot ? ['--bootstrap', boot] : [])];
  const a = await startDaemon({ home: ha.home, env, args: args() });
  running.push(a);
  const boot = (await a.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0] as string;
  const b = await startDaemon({ home: hb.home, env, args: args(boot) });
  running.push(b);
  for (const d of [a, b])
    await waitFor(
      async () => (await d.get<{ chain: { selfRegistration: string } }>('/status')).chain.selfRegistration === 'registered',
      60_000,
      'self-registration on the chain',
    );
  await waitFor(
    async () =>
      (await a.get<{ net: { peers: { nodeId: string; state: string; member: boolean }[] } }>('/status')).net.peers.some(
        (p) => p.nodeId === hb.nodeId && p.state === 'live' && p.member,
      ),
    60_000,
    'a to see b live, and a member (with a chain, the members are the registry: read every 15 s)',
  );

  const planFile = join(dir, 'plan.json');
  writeFileSync(planFile, JSON.stringify(plan));
  const started = await run(process.execPath, [CLI, 'research', 'start', '--home', ha.home, '--plan', planFile, '--json'], { env });
  const runId = (JSON.parse(started.stdout) as { runId: string }).runId;
  await waitFor(
    async () => (await a.get<{ run: { state: string } | null }>('/research/status')).run?.state === 'done',
    600_000,
    'the research run to finish',
  );
  const report = await a.get<{ phases: { trials: { worker: string; state: string }[] }[] }>(`/research/report?run=${runId}`);
  const ranByB = report.phases.flatMap((p) => p.trials).filter((t) => t.worker === hb.nodeId && t.state === 'done').length;
  assert.ok(ranByB >= 1, 'b ran at least one trial');

  // The research node delivers one receipt per trial b ran; b queues each as a claim signed by a as its leader.
  await waitFor(
    async () => (await a.get<{ credits: Record<string, number> }>('/research/status')).credits['delivered'] === ranByB,
    120_000,
    'the receipts to reach b',
  );
  const claims = (await b.get<{ claims: Claim[] }>('/chain/claims')).claims;
  const trialClaims = claims.filter((c) => BigInt(c.receipt.round) > BigInt(TRIAL_CREDIT_BASE));
  assert.equal(trialClaims.length, ranByB, `one claim per trial: ${JSON.stringify(claims.map((c) => c.receipt.round))}`);
  const aAddress = (await a.get<{ address: string }>('/status')).address;
  for (const c of trialClaims) {
    assert.equal(c.receipt.leader.toLowerCase(), aAddress.toLowerCase());
    assert.equal(c.receipt.node.toLowerCase(), hb.address.toLowerCase());
    assert.equal(BigInt(c.receipt.score), 1_000_000n);
    assert.equal(BigInt(c.receipt.tokens), 10n * 2n * 32n, 'steps x batch x context of the job');
  }
  // a's own trials earn it nothing: a leader cannot sign its own receipt.
  assert.equal((await a.get<{ claims: Claim[] }>('/chain/claims')).claims.length, 0);

  // The ledger takes a trial receipt like a round's: b commits it in its epoch's commit window and reveals it.
  const provider = makeProvider(local.rpc, 31337n);
  const ledger = attach(local.deployment, provider).ledger;
  const mineAt = async (t: bigint) => {
    const latest = BigInt((await provider.getBlock('latest'))!.timestamp);
    if (latest < t) await provider.send('evm_mine', [Number(t)]);
  };
  const windows = async (epoch: string) => (await ledger.getFunction('windows')(BigInt(epoch))) as bigint[];
  const earliest = trialClaims.map((c) => BigInt(c.epoch)).sort((x, y) => (x < y ? -1 : 1))[0] as bigint;
  await mineAt((await windows(String(earliest)))[0] as bigint);
  // One claim per node and epoch: the driver commits one trial claim now (the others move to later epochs).
  const committed = await waitFor(
    async () =>
      (await b.get<{ claims: Claim[] }>('/chain/claims')).claims.find(
        (c) => BigInt(c.receipt.round) > BigInt(TRIAL_CREDIT_BASE) && c.state === 'committed',
      ),
    60_000,
    'b to commit a trial claim',
  );
  await mineAt((await windows(committed.epoch))[1] as bigint);
  const stateOf = async () =>
    (await b.get<{ claims: Claim[] }>('/chain/claims')).claims.find((c) => String(c.receipt.round) === String(committed.receipt.round))
      ?.state;
  await waitFor(async () => (await stateOf()) === 'revealed', 60_000, 'b to reveal the trial claim');
  provider.destroy();
  for (const d of [a, b]) assert.equal(await d.stop(45_000), 0);
});
