import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Wallet } from 'ethers';
import { createLogger } from '../../daemon/src/log/logger.js';
import { ChainPart } from '../../daemon/src/chain/chain-part.js';
import type { LeaderReceipt, SubmissionBook } from '../../daemon/src/chain/leader-receipts.js';
import { signReceipt, type Receipt } from '../../daemon/src/chain/receipt.js';
import { computeEpochRewards } from '../../daemon/src/chain/calculator.js';
import { writeDeployment } from '../../daemon/src/chain/deploy.js';
import { chainSchemaDefaults } from '../../daemon/src/chain/options.js';
import { allMigrations } from '../../daemon/src/node/all-migrations.js';
import { openStateDb, type StateDb } from '../../daemon/src/db/database.js';
import { identityFromWallet } from '../../daemon/src/identity/identity.js';
import { startLocalChain } from '../../daemon/src/chain/local-chain.js';
import { makeProvider } from '../../daemon/src/chain/provider.js';
import { increaseTime, startAnvil, type Anvil } from './helpers/anvil.js';
import { RpcProxy } from './helpers/rpc-proxy.js';
import { deployFixture, nextEpoch, register, timeTo, windowsOf, type Fixture } from './helpers/fixture.js';

/**
 * The daemon's claim loop against a real anvil: a leader's ChainPart turns a recorded contribution into a
 * leader-signed receipt, the contributor's ChainPart queues it, commits, survives a restart, an RPC outage and an
 * RPC that dies after a transaction was sent (nothing doubled), reveals, settles and records the reward.
 */

describe('daemon claim loop on anvil', () => {
  let anvil: Anvil;
  let f: Fixture;
  let dir: string;
  let proxy: RpcProxy;
  const dbs: StateDb[] = [];
  const parts: ChainPart[] = [];
  const LEADER = 5;
  const NODE = 6;
  const TOKEN_CAP = 100_000n;
  const log = createLogger('silent');

  /** What each contributor submitted, by round: the rounds' tables in a node; filled by the tests here. */
  const submitted = new Map<number, { gradientSha256: string; leaders: string[] }>();
  const submissions: SubmissionBook = { submitted: (round) => submitted.get(round) };
  const makePart = (key: string, db: StateDb, rpc: string, over: Partial<ReturnType<typeof chainSchemaDefaults>> = {}) => {
    const p = new ChainPart({
      submissions,
      options: {
        ...chainSchemaDefaults(),
        rpc,
        deployment: join(dir, 'deployment.json'),
        pollMs: 3_600_000,
        retryBaseMs: 10,
        retryMaxMs: 20,
        ...over,
      },
      db,
      identity: identityFromWallet(new Wallet(key)),
      log,
    });
    parts.push(p);
    return p;
  };
  const openDb = (name: string) => {
    const { db } = openStateDb(join(dir, name), allMigrations);
    dbs.push(db);
    return db;
  };
  const settleRetry = () => new Promise((r) => setTimeout(r, 30)); // past retryMaxMs
  /** Receipts as a leader that sealed no round root sends them. */
  const receiptsOnly = (list: LeaderReceipt[]): LeaderReceipt[] => list.map(({ leaf: _leaf, ...r }) => r);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'magnet-chain-'));
    anvil = await startAnvil();
    f = await deployFixture(anvil, { maxTokensPerClaim: TOKEN_CAP });
    writeDeployment(join(dir, 'deployment.json'), f.deployment);
    await register(f, LEADER, 3);
    await register(f, NODE, 1);
    proxy = new RpcProxy(anvil.url);
    await proxy.start();
  });
  after(async () => {
    for (const p of parts) await p.stop();
    for (const db of dbs) db.close();
    await proxy?.stop();
    await anvil?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records contributions with no chain configured; claims wait and the status says so', async () => {
    const db = openDb('idle.db');
    const p = new ChainPart({ options: chainSchemaDefaults(), db, identity: identityFromWallet(new Wallet(f.anvil.keys[7]!)), log });
    parts.push(p);
    await p.start();
    const c = {
      round: 3,
      nodeId: 'node-0123456789abcdef',
      tokens: 100,
      steps: 5,
      lossDelta: 0.2,
      verified: true,
      gradientSha256: 'ab'.repeat(32),
    };
    p.contributions.record(c);
    p.contributions.record(c); // idempotent per (round, nodeId)
    assert.equal(p.contributions.count(), 1);
    assert.match(String(p.status().state), /not configured/);
    await assert.rejects(
      p.acceptReceipt(
        1,
        {
          node: f.wallets[7]!.address,
          epoch: 1n,
          round: 1n,
          checkpointHash: '0x' + '00'.repeat(32),
          gradientHash: '0x' + '00'.repeat(32),
          tokens: 1n,
          score: 1n,
          leader: f.wallets[LEADER]!.address,
        },
        '0x',
      ),
      /no chain configured/,
    );
    assert.throws(() => p.contributions.record({ ...c, round: -1 }), /whole numbers/);
  });

  it('signs as leader, queues, commits, survives restart and outages without doubling, reveals, settles and pays', async () => {
    const leaderDb = openDb('leader.db');
    const nodeDb = openDb('node.db');
    const leader = makePart(f.anvil.keys[LEADER]!, leaderDb, anvil.url);
    let node = makePart(f.anvil.keys[NODE]!, nodeDb, proxy.url);
    await leader.start();
    await node.start();
    const nodeIdentity = identityFromWallet(new Wallet(f.anvil.keys[NODE]!));
    const leaderIdentity = identityFromWallet(new Wallet(f.anvil.keys[LEADER]!));
    submitted.set(1, { gradientSha256: 'cd'.repeat(32), leaders: [leaderIdentity.nodeId] });

    // Leader side: DiLoCo's sink records the accepted gradients (one of them its own, which it cannot sign).
    leader.contributions.record({
      round: 1,
      nodeId: nodeIdentity.nodeId,
      tokens: 4096,
      steps: 50,
      lossDelta: 0.25,
      verified: true,
      gradientSha256: 'cd'.repeat(32),
    });
    leader.contributions.record({
      round: 1,
      nodeId: leaderIdentity.nodeId,
      tokens: 4096,
      steps: 50,
      lossDelta: 0.25,
      verified: true,
      gradientSha256: 'ef'.repeat(32),
    });
    leader.contributions.record({
      round: 1,
      nodeId: 'node-00000000000000ff',
      tokens: 1,
      steps: 1,
      lossDelta: 0.1,
      verified: true,
      gradientSha256: '11'.repeat(32),
    });
    await leader.tick();
    const states = Object.fromEntries(leader.contributions.all().map((c) => [c.nodeId, c.state]));
    assert.deepEqual(states, { [nodeIdentity.nodeId]: 'signed', [leaderIdentity.nodeId]: 'self', 'node-00000000000000ff': 'unregistered' });
    const [rec] = leader.contributions.receiptsFor(nodeIdentity.nodeId);
    assert.ok(rec);
    // What DiLoCo carries in the round outcome, here without the round root's leaves: the receipt path is what this
    // test follows (a leader that sealed no root, or a root never committed); the root path has its own test.
    const outcome = receiptsOnly(await leader.leaderReceipts(1));
    assert.deepEqual(
      outcome.map((o) => o.nodeId),
      [nodeIdentity.nodeId],
    );
    assert.equal(await leader.acceptLeaderReceipts(outcome), 0, 'the leader skips receipts addressed to others');
    assert.equal(rec.receipt.score, 250_000n);

    // Contributor side: a forged leader signature is refused; the real one queues once.
    await assert.rejects(node.acceptReceipt(rec.round, rec.receipt, await Wallet.createRandom().signMessage('x')), /leader signature/);
    await assert.rejects(node.acceptReceipt(rec.round, { ...rec.receipt, tokens: 1n }, rec.leaderSignature), /leader signature is by/);
    assert.equal(await node.acceptLeaderReceipts(outcome), 1);
    assert.equal((await node.acceptReceipt(rec.round, rec.receipt, rec.leaderSignature)).queued, false, 'a receipt queues once');
    const epoch = rec.receipt.epoch;
    const w = await windowsOf(f, epoch);
    await timeTo(f, w.commit);
    const txCount0 = await f.provider.getTransactionCount(nodeIdentity.address);

    // The RPC dies right after the commit transaction was sent: the claim stays queued with the error.
    proxy.setMode('drop-after-send');
    await node.tick();
    let [claim] = node.claims.all();
    assert.equal(claim!.state, 'queued');
    assert.ok(claim!.attempts >= 1 && claim!.lastError, 'failure recorded');
    assert.equal(await f.provider.getTransactionCount(nodeIdentity.address), txCount0 + 1, 'the commit did reach the chain');

    // Restart the node part over the same database while the RPC is still down: nothing lost.
    await node.stop();
    node = makePart(f.anvil.keys[NODE]!, nodeDb, proxy.url);
    await node.start();
    await settleRetry();
    await node.tick();
    assert.equal(node.claims.all()[0]!.state, 'queued');

    // RPC back: the loop sees the commitment on chain and moves on without committing again.
    proxy.setMode('up');
    await settleRetry();
    await node.tick();
    [claim] = node.claims.all();
    assert.equal(claim!.state, 'committed');
    assert.equal(await f.provider.getTransactionCount(nodeIdentity.address), txCount0 + 1, 'no second commit');
    const sentBefore = proxy.sent;
    await node.tick(); // still in the commit window: nothing to send
    assert.equal(proxy.sent, sentBefore);

    // Reveal window: an outage first, then the reveal.
    await timeTo(f, w.reveal);
    proxy.setMode('down');
    await settleRetry();
    await node.tick();
    assert.equal(node.claims.all()[0]!.state, 'committed');
    proxy.setMode('up');
    await settleRetry();
    await node.tick();
    assert.equal(node.claims.all()[0]!.state, 'revealed');
    const estimate = (await node.rewards()).claims[0]!.estimate;
    assert.ok(estimate !== null);

    // After the challenge window the node settles the epoch and records the reward, equal to the calculator's.
    await timeTo(f, w.settle);
    await settleRetry();
    await node.tick();
    [claim] = node.claims.all();
    assert.equal(claim!.state, 'paid');
    const expected = computeEpochRewards({
      epochPool: f.p.epochPool,
      dailyCap: f.p.dailyCap,
      emittedOnDay: 0n,
      maxRewardShareBps: f.p.maxRewardShareBps,
      claims: [{ node: nodeIdentity.address, tierMultiplierBps: f.p.tierMultiplierBps[1]!, tokens: 4096n, score: 250_000n }],
    });
    assert.equal(claim!.reward, expected.rewards[0]);
    assert.equal(BigInt(estimate), expected.rewards[0], 'the estimate shown before settlement equals the settled reward');
    const r = await node.rewards();
    assert.equal(r.owed, expected.rewards[0]!.toString());
    assert.equal(await f.provider.getTransactionCount(nodeIdentity.address), txCount0 + 3, 'commit, reveal, settle: each once');
    await node.tick();
    assert.equal(await f.provider.getTransactionCount(nodeIdentity.address), txCount0 + 3, 'a paid claim sends nothing');
  });

  it('claims two receipts of one epoch in consecutive epochs and moves a receipt that came after its commit window', async () => {
    const leader = makePart(f.anvil.keys[LEADER]!, openDb('leader-slots.db'), anvil.url);
    const node = makePart(f.anvil.keys[NODE]!, openDb('node-slots.db'), anvil.url);
    await leader.start();
    await node.start();
    const nodeId = identityFromWallet(new Wallet(f.anvil.keys[NODE]!)).nodeId;
    const leaderId = identityFromWallet(new Wallet(f.anvil.keys[LEADER]!)).nodeId;
    for (const round of [11, 12, 13]) submitted.set(round, { gradientSha256: 'aa'.repeat(32), leaders: [leaderId] });
    const contribute = async (round: number) => {
      leader.contributions.record({
        round,
        nodeId,
        tokens: 1000,
        steps: 10,
        lossDelta: 0.1,
        verified: true,
        gradientSha256: 'aa'.repeat(32),
      });
      await leader.tick();
      return receiptsOnly(await leader.leaderReceipts(round));
    };
    // Two rounds led within one epoch: both receipts name the same epoch, where the node holds one claim.
    for (const round of [11, 12]) assert.equal(await node.acceptLeaderReceipts(await contribute(round)), 1);
    const [a, b] = node.claims.all();
    assert.equal(a!.epoch, b!.epoch, 'both receipts are for one epoch');
    const e = a!.epoch;
    await timeTo(f, (await windowsOf(f, e)).commit);
    await node.tick();
    const byRound = () => Object.fromEntries(node.claims.all().map((c) => [c.round, c]));
    assert.equal(byRound()[11]!.state, 'committed');
    assert.equal(byRound()[12]!.state, 'queued');
    assert.equal(byRound()[12]!.epoch, e + 1n, 'the second receipt moves to the next epoch');
    assert.match(byRound()[12]!.lastError ?? '', /moved to epoch/);

    // A receipt that reaches the node after its epoch's commit window closed is moved too, not expired.
    const late = await contribute(13);
    assert.deepEqual(
      late.map((r) => r.round),
      [11, 12, 13],
      'a leader sends its earlier receipts again with each outcome',
    );
    const lateEpoch = late.find((r) => r.round === 13)!.receipt['epoch']!;
    await timeTo(f, (await windowsOf(f, BigInt(lateEpoch))).reveal);
    assert.equal(await node.acceptLeaderReceipts(late), 1, 'resent receipts queue once');
    await node.tick();
    assert.ok(byRound()[13]!.epoch > BigInt(lateEpoch), `moved from epoch ${lateEpoch} to ${byRound()[13]!.epoch}`);
    assert.equal(byRound()[13]!.state === 'queued' || byRound()[13]!.state === 'committed', true);

    // Walk chain time through every window of every claim: all three are paid, each in its own epoch.
    for (let i = 0; i < 20 && node.claims.all().some((c) => c.state !== 'paid'); i++) {
      const times = [];
      for (const c of node.claims.all().filter((x) => x.state !== 'paid')) {
        const w = await windowsOf(f, c.epoch);
        times.push(w.commit, w.reveal, w.settle);
      }
      const t = (await f.provider.getBlock('latest'))!.timestamp;
      const next = times.filter((x) => x > BigInt(t)).sort((x, y) => (x < y ? -1 : 1))[0];
      if (next !== undefined) await timeTo(f, next);
      await settleRetry();
      await node.tick();
    }
    const claims = node.claims.all();
    assert.deepEqual(
      claims.map((c) => c.state),
      ['paid', 'paid', 'paid'],
      JSON.stringify(claims.map((c) => [c.round, c.epoch.toString(), c.state, c.lastError])),
    );
    assert.equal(new Set(claims.map((c) => c.epoch)).size, 3, 'one claim per epoch');
  });

  it('refuses bogus receipts before they can cost anything, and one bad record never stops the others', async () => {
    const leader = makePart(f.anvil.keys[LEADER]!, openDb('leader-bogus.db'), anvil.url);
    const node = makePart(f.anvil.keys[NODE]!, openDb('node-bogus.db'), anvil.url);
    await leader.start();
    await node.start();
    const nodeId = identityFromWallet(new Wallet(f.anvil.keys[NODE]!)).nodeId;
    const leaderId = identityFromWallet(new Wallet(f.anvil.keys[LEADER]!)).nodeId;
    const nodeAddr = f.wallets[NODE]!.address;
    const ledger = f.deployment.addresses.ledger;
    const epoch = (await f.c.params.getFunction('currentEpoch')()) as bigint;
    const receipt = (over: Partial<Receipt>): Receipt => ({
      node: nodeAddr,
      epoch,
      round: 21n,
      checkpointHash: '0x' + '00'.repeat(32),
      gradientHash: '0x' + 'bb'.repeat(32),
      tokens: 1000n,
      score: 100_000n,
      leader: f.wallets[LEADER]!.address,
      ...over,
    });
    const fromOutcome = async (signerIndex: number, r: Receipt) =>
      node.acceptLeaderReceipts([
        { nodeId, round: Number(r.round), receipt: r, leaderSignature: await signReceipt(f.wallets[signerIndex]!, r, f.chainId, ledger) },
      ]);
    submitted.set(21, { gradientSha256: 'bb'.repeat(32), leaders: [leaderId] });
    // A hostile key nobody bonded signs this node a receipt: refused, nothing queued.
    const stranger = 8;
    assert.equal(await fromOutcome(stranger, receipt({ leader: f.wallets[stranger]!.address })), 0, 'unregistered leader');
    await assert.rejects(
      node.acceptReceipt(
        21,
        receipt({ leader: f.wallets[stranger]!.address }),
        await signReceipt(f.wallets[stranger]!, receipt({ leader: f.wallets[stranger]!.address }), f.chainId, ledger),
      ),
      /not registered on chain: nobody bonded that key/,
    );
    // A registered leader's receipts for work this node never sent it: another round, another gradient.
    assert.equal(await fromOutcome(LEADER, receipt({ round: 22n })), 0, 'a round this node did not submit');
    assert.equal(await fromOutcome(LEADER, receipt({ gradientHash: '0x' + 'cc'.repeat(32) })), 0, 'another gradient');
    submitted.set(23, { gradientSha256: 'bb'.repeat(32), leaders: ['node-0000000000000001'] });
    assert.equal(await fromOutcome(LEADER, receipt({ round: 23n })), 0, 'submitted to another leader');
    // A receipt signed by this node as its own leader.
    await assert.rejects(
      node.acceptReceipt(
        21,
        receipt({ leader: nodeAddr }),
        await signReceipt(f.wallets[NODE]!, receipt({ leader: nodeAddr }), f.chainId, ledger),
      ),
      /signed by this node itself/,
    );
    assert.equal(node.claims.all().length, 0, 'nothing queued from any of them');

    // The operator hands in a receipt over the token cap: queued, then refused by the eth_call check; never committed.
    const txCount = await f.provider.getTransactionCount(nodeAddr);
    const big = receipt({ tokens: TOKEN_CAP + 1n });
    await node.acceptReceipt(21, big, await signReceipt(f.wallets[LEADER]!, big, f.chainId, ledger));
    await timeTo(f, (await windowsOf(f, epoch)).commit);
    await node.tick();
    const [refused] = node.claims.all();
    assert.equal(refused!.state, 'failed');
    assert.match(refused!.lastError ?? '', /would refuse its reveal: LedgerTokensOverCap/);
    assert.equal(await f.provider.getTransactionCount(nodeAddr), txCount, 'no commit was sent: nothing to report as a no-show');

    // Leader side: a record no receipt can carry (tokens over the ledger's cap) is marked; the next one is signed.
    leader.contributions.record({
      round: 31,
      nodeId,
      tokens: Number(TOKEN_CAP) + 1,
      steps: 1,
      lossDelta: 0.1,
      verified: true,
      gradientSha256: 'dd'.repeat(32),
    });
    leader.contributions.record({
      round: 32,
      nodeId,
      tokens: 1000,
      steps: 1,
      lossDelta: 0.1,
      verified: true,
      gradientSha256: 'ee'.repeat(32),
    });
    await leader.tick();
    const byRound = Object.fromEntries(leader.contributions.all().map((c) => [c.round, c]));
    assert.equal(byRound[31]!.state, 'invalid');
    assert.match(byRound[31]!.note ?? '', /over the ledger's cap/);
    assert.equal(byRound[32]!.state, 'signed', 'the bad record did not stop the good one');
    assert.throws(
      () =>
        leader.contributions.record({
          round: 33,
          nodeId,
          tokens: 2 ** 64,
          steps: 1,
          lossDelta: 0,
          verified: true,
          gradientSha256: 'ee'.repeat(32),
        }),
      /whole numbers/,
    );
    assert.throws(
      () => leader.contributions.record({ round: 33, nodeId, tokens: 1, steps: 1, lossDelta: 0, verified: true, gradientSha256: 'xyz' }),
      /64 lowercase hex/,
    );
  });

  it("claims from its leader's round roots: two rounds of one epoch paid in that epoch; a bent proof or a root never committed falls back to receipts", async () => {
    const OTHER = 7;
    await register(f, OTHER, 1);
    const leader = makePart(f.anvil.keys[LEADER]!, openDb('leader-roots.db'), anvil.url);
    const node = makePart(f.anvil.keys[NODE]!, openDb('node-roots.db'), anvil.url);
    await leader.start();
    await node.start();
    const nodeId = identityFromWallet(new Wallet(f.anvil.keys[NODE]!)).nodeId;
    const otherId = identityFromWallet(new Wallet(f.anvil.keys[OTHER]!)).nodeId;
    const leaderId = identityFromWallet(new Wallet(f.anvil.keys[LEADER]!)).nodeId;
    const nodeAddr = f.wallets[NODE]!.address;
    const gradient = (round: number) => String(round).padStart(2, '0').repeat(32);
    for (const round of [41, 42, 43, 44]) submitted.set(round, { gradientSha256: gradient(round), leaders: [leaderId] });
    /** The leader records this node's and another's gradient for `round`, signs, and seals the round's root. */
    const contribute = async (round: number) => {
      for (const [id, g] of [
        [nodeId, gradient(round)],
        [otherId, 'ff'.repeat(32)],
      ] as const) {
        leader.contributions.record({ round, nodeId: id, tokens: 2000, steps: 10, lossDelta: 0.2, verified: true, gradientSha256: g });
      }
      await leader.tick();
      return leader.leaderReceipts(round);
    };
    await increaseTime(f.provider, 86_400); // a new day: the earlier tests used up this day's emission cap
    await nextEpoch(f); // early in a commit window, so the leader signs for this epoch
    await contribute(41);
    const outcome = await contribute(42); // carries round 41's receipts again
    const mine = outcome.filter((r) => r.nodeId === nodeId);
    assert.deepEqual(
      mine.map((r) => [r.round, r.leaf?.index, r.leaf?.proof.length]),
      [
        [41, mine[0]!.leaf!.index, 1],
        [42, mine[1]!.leaf!.index, 1],
      ],
      'each receipt carries its leaf in a root of two',
    );
    const e = mine[0]!.receipt.epoch;
    assert.equal(mine[1]!.receipt.epoch, e, 'both rounds signed in one epoch');
    assert.equal(await node.acceptLeaderReceipts(outcome), 2);
    const w = await windowsOf(f, e);
    await timeTo(f, w.commit);
    const tx0 = await f.provider.getTransactionCount(nodeAddr);
    await node.tick(); // the leader has not committed yet: the node waits, it does not commit a receipt
    assert.deepEqual(
      node.claims.all().map((c) => c.state),
      ['queued', 'queued'],
    );
    await leader.tick(); // commits both roots
    assert.deepEqual([...(await f.c.ledger.getFunction('roundsLed')(e, f.wallets[LEADER]!.address))], [41n, 42n]);
    assert.equal(leader.contributions.rootOf(41)!.state, 'committed');
    await node.tick();
    assert.equal(await f.provider.getTransactionCount(nodeAddr), tx0, 'nothing sent before the reveal window');
    await timeTo(f, w.reveal);
    await node.tick();
    assert.deepEqual(
      node.claims.all().map((c) => [c.route, c.state]),
      [
        ['root', 'revealed'],
        ['root', 'revealed'],
      ],
    );
    assert.equal(await f.provider.getTransactionCount(nodeAddr), tx0 + 2, 'one claimRound per leaf, no commit, no reveal');
    await timeTo(f, w.settle);
    await settleRetry();
    await node.tick();
    await node.tick();
    const paid = node.claims.all();
    assert.deepEqual(
      paid.map((c) => c.state),
      ['paid', 'paid'],
      JSON.stringify(paid.map((c) => c.lastError)),
    );
    const onChain = await f.c.ledger.getFunction('claimOf')(e, nodeAddr);
    const bps = BigInt(f.p.tierMultiplierBps[1]!);
    assert.equal(onChain.weight, bps * 4000n * mine[0]!.receipt.score, 'both leaves in one claim of the epoch');
    assert.ok((onChain.reward as bigint) > 0n);
    assert.equal(
      paid.reduce((a, c) => a + c.reward!, 0n),
      onChain.reward,
      'the rows add up to the one amount the ledger credited for the epoch',
    );

    // Round 43: a leaf whose proof was bent on the way is dropped; the receipt queues and is claimed by receipt.
    await nextEpoch(f);
    const o43 = (await contribute(43)).find((r) => r.round === 43 && r.nodeId === nodeId)!;
    const bent = { ...o43, leaf: { ...o43.leaf!, proof: ['0x' + '12'.repeat(32)] } };
    assert.equal(await node.acceptLeaderReceipts([bent]), 1);
    assert.equal(node.claims.all().find((c) => c.round === 43)!.leaf, null, 'a leaf that does not prove its receipt is dropped');
    // Round 44: the leader seals but never commits its root (no leader tick): three quarters into the commit window the
    // node stops waiting and claims by receipt.
    const o44 = (await contribute(44)).filter((r) => r.round === 44);
    assert.equal(await node.acceptLeaderReceipts(o44), 1);
    const e44 = o44[0]!.receipt.epoch;
    const w44 = await windowsOf(f, e44);
    await timeTo(f, w44.commit);
    await node.tick();
    assert.notEqual(node.claims.all().find((c) => c.round === 44)!.leaf, null, 'early in the window the node waits for the root');
    await timeTo(f, w44.commit + ((w44.reveal - w44.commit) * 3n) / 4n);
    await node.tick();
    const late = node.claims.all().filter((c) => c.round >= 43);
    assert.deepEqual(
      late.map((c) => [c.round, c.leaf, c.route]),
      [
        [43, null, 'receipt'],
        [44, null, 'receipt'],
      ],
    );
    assert.ok(
      late.some((c) => c.state === 'committed'),
      JSON.stringify(late.map((c) => [c.round, c.state, c.lastError])),
    );
  });

  it('starts a local testnet chain: anvil on loopback, fast windows, funded node wallets register themselves', async () => {
    const local = await startLocalChain(dir);
    try {
      assert.match(local.rpc, /^http:\/\/127\.0\.0\.1:\d+$/);
      const w = Wallet.createRandom();
      const db = openDb('testnet-node.db');
      const p = new ChainPart({
        options: {
          ...chainSchemaDefaults(),
          rpc: local.rpc,
          deployment: local.deploymentFile,
          registerBond: local.env.MAGNET_CHAIN_REGISTER_BOND!,
          pollMs: 3_600_000,
        },
        db,
        identity: identityFromWallet(new Wallet(w.privateKey)),
        log,
        tierIndex: 2,
      });
      parts.push(p);
      await p.start();
      await p.tick();
      assert.match(String(p.status().selfRegistration), /^pending: .*funds/i, 'an unfunded wallet cannot register yet');
      await local.fund([w.address]);
      await p.tick();
      assert.equal(p.status().selfRegistration, 'registered');
      const reg = p.contracts()!.registry;
      assert.equal(await reg.getFunction('isRegistered')(w.address), true);
      assert.equal(await reg.getFunction('tierOf')(w.address), 2n);
      assert.equal(await p.contracts()!.params.getFunction('epochLength')(), 60n);
      const startOf1 = (await p.contracts()!.params.getFunction('epochStart')(1n)) as bigint;
      const provider = makeProvider(local.rpc, 31337n);
      const deployedAt = BigInt((await provider.getBlock(local.deployment.block))!.timestamp);
      provider.destroy();
      assert.equal(startOf1 - deployedAt, 60n, 'epoch 0 starts at the deployment and is already a short one');
      await p.stop();
    } finally {
      await local.stop();
    }
  });
});
