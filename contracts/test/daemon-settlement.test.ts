import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Wallet } from 'ethers';
import { createLogger } from '../../daemon/src/log/logger.js';
import { ChainPart } from '../../daemon/src/chain/chain-part.js';
import type { SubmissionBook } from '../../daemon/src/chain/leader-receipts.js';
import { creditsFromWeights } from '../../daemon/src/chain/calculator.js';
import { readLogs } from '../../daemon/src/chain/ledger-events.js';
import { writeDeployment } from '../../daemon/src/chain/deploy.js';
import { chainSchemaDefaults, type ChainOptions } from '../../daemon/src/chain/options.js';
import { buildRoundTree, settlementLeafHash } from '../../daemon/src/chain/round-tree.js';
import { allMigrations } from '../../daemon/src/node/all-migrations.js';
import { openStateDb, type StateDb } from '../../daemon/src/db/database.js';
import { identityFromWallet } from '../../daemon/src/identity/identity.js';
import { increaseTime, startAnvil, type Anvil } from './helpers/anvil.js';
import {
  deployFixture,
  nextEpoch,
  register,
  rejectsWith,
  send,
  settlementBasis,
  timeTo,
  windowsOf,
  type Fixture,
} from './helpers/fixture.js';

const LEADER = 5;
const A = 6;
const B = 7;
const HOSTILE = 8; // a registered node with its own key that posts a root crediting itself
const NOTARY = 9; // a notary daemon that is no registered node
const STATUS_EXECUTED = 6n;

/**
 * The daemon's side of Merkle settlement against a real anvil: nodes in `merkle` mode post one cumulative root for
 * an epoch, every node recomputes it from the claims on chain before finalizing it, each withdraws by proof; notary
 * daemons challenge a hostile settler's root, judge it by the same recomputation, and the honest root follows.
 */
describe('daemon Merkle settlement on anvil', () => {
  let anvil: Anvil;
  let f: Fixture;
  let dir: string;
  const dbs: StateDb[] = [];
  const parts: ChainPart[] = [];
  const log = createLogger('silent');
  const submitted = new Map<number, { gradientSha256: string; leaders: string[] }>();
  const submissions: SubmissionBook = { submitted: (round) => submitted.get(round) };
  const keyOf = (i: number) => f.anvil.keys[i]!;
  const addr = (i: number) => f.wallets[i]!.address;
  const nodeIdOf = (i: number) => identityFromWallet(new Wallet(keyOf(i))).nodeId;
  const makePart = (i: number, over: Partial<ChainOptions> = {}) => {
    const { db } = openStateDb(join(dir, `${i}.db`), allMigrations);
    dbs.push(db);
    const p = new ChainPart({
      submissions,
      options: { ...chainSchemaDefaults(), rpc: anvil.url, deployment: join(dir, 'deployment.json'), pollMs: 3_600_000, ...over },
      db,
      identity: identityFromWallet(new Wallet(keyOf(i))),
      log,
    });
    parts.push(p);
    return p;
  };
  let leader: ChainPart;
  let a: ChainPart;
  let b: ChainPart;
  let notary: ChainPart;
  const tickAll = async () => {
    for (const p of [leader, a, b, notary]) await p.tick();
  };

  /** One round of `leader` with A and B (A did twice B's tokens), claimed from its root; returns the epoch. */
  const epochOfClaims = async (round: number): Promise<bigint> => {
    await increaseTime(f.provider, 86_400); // a fresh day: each epoch here gets the whole pool
    await nextEpoch(f);
    for (const [i, tokens] of [
      [A, 2000],
      [B, 1000],
    ] as const) {
      const g = `${round}${i}`.padStart(2, '0').repeat(32).slice(0, 64);
      submitted.set(round, { gradientSha256: g, leaders: [nodeIdOf(LEADER)] });
      leader.contributions.record({ round, nodeId: nodeIdOf(i), tokens, steps: 10, lossDelta: 0.2, verified: true, gradientSha256: g });
    }
    await leader.tick();
    const outcome = await leader.leaderReceipts(round);
    // Each node checks the receipt against its own submission: give each its own gradient before it accepts.
    for (const [i, p] of [
      [A, a],
      [B, b],
    ] as const) {
      const mine = outcome.filter((r) => r.nodeId === nodeIdOf(i) && r.round === round);
      submitted.set(round, { gradientSha256: mine[0]!.receipt.gradientHash.slice(2), leaders: [nodeIdOf(LEADER)] });
      assert.equal(await p.acceptLeaderReceipts(mine), 1);
    }
    const e = outcome.find((r) => r.round === round)!.receipt.epoch;
    const w = await windowsOf(f, e);
    await timeTo(f, w.commit);
    await leader.tick(); // commits the root
    await timeTo(f, w.reveal);
    await tickAll(); // A and B claim their leaves
    assert.deepEqual(
      [...a.claims.all(), ...b.claims.all()].filter((c) => c.epoch === e).map((c) => [c.route, c.state]),
      [
        ['root', 'revealed'],
        ['root', 'revealed'],
      ],
    );
    await timeTo(f, w.settle);
    return e;
  };

  /** What the ledger's claims give A and B in `epoch`, on the basis the ledger holds now. */
  const creditsOf = async (epoch: bigint) => {
    const [pool, cap] = await settlementBasis(f, epoch);
    const weights = new Map<string, bigint>();
    for (const i of [A, B]) weights.set(addr(i), (await f.c.ledger.getFunction('claimOf')(epoch, addr(i))).weight as bigint);
    return creditsFromWeights(pool, cap, weights);
  };
  const rewardOf = (p: ChainPart, epoch: bigint) => p.claims.all().find((c) => c.epoch === epoch)?.reward;
  const stateOf = (p: ChainPart, epoch: bigint) => p.claims.all().find((c) => c.epoch === epoch)?.state;
  const tokenOf = async (i: number) => (await f.c.token.getFunction('balanceOf')(addr(i))) as bigint;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'magnet-settle-'));
    anvil = await startAnvil();
    f = await deployFixture(anvil, { maxTokensPerClaim: 100_000n, maxRewardShareBps: 8_000 });
    writeDeployment(join(dir, 'deployment.json'), f.deployment);
    await register(f, LEADER, 3);
    for (const i of [A, B, HOSTILE]) await register(f, i, 1);
    leader = makePart(LEADER);
    a = makePart(A, { settlement: 'merkle', notaryBond: '20' });
    b = makePart(B, { settlement: 'merkle', notaryBond: '20' });
    notary = makePart(NOTARY, { notaryBond: '20' });
    for (const p of parts) await p.start();
  });
  after(async () => {
    for (const p of parts) await p.stop();
    for (const db of dbs) db.close();
    await anvil?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('settles an epoch by one root: a node posts it, each checks it before finalizing, and each withdraws its credit by proof', async () => {
    const e = await epochOfClaims(1);
    const want = await creditsOf(e);
    await a.tick(); // posts the root (merkle mode)
    const posting = await f.c.ledger.getFunction('settlementOf')(e);
    assert.equal(posting.settler, addr(A));
    assert.equal(posting.total, want.total);
    await rejectsWith(f.c.ledger.getFunction('settle')(e, 10), 'LedgerSettlementExists'); // the claim loop is closed
    await tickAll(); // inside the posting's challenge period: checked, nothing finalized
    assert.equal((await f.c.ledger.getFunction('settlementOf')(e)).finalized, false);
    assert.equal((await f.c.panel.getFunction('challengeCount')()) as bigint, 0n, 'no notary challenges a right root');
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await b.tick(); // finalizes (any node may) and records B's credit
    await tickAll();
    assert.equal((await f.c.ledger.getFunction('settlementOf')(e)).finalized, true);
    assert.equal(await f.c.ledger.getFunction('cumulativeCredited')(), want.total);
    assert.deepEqual([stateOf(a, e), stateOf(b, e)], ['paid', 'paid']);
    assert.deepEqual([rewardOf(a, e), rewardOf(b, e)], [want.credits.get(addr(A)), want.credits.get(addr(B))]);
    assert.ok(want.credits.get(addr(A))! > want.credits.get(addr(B))!, 'A did more');
    assert.equal((await a.rewards()).owedByProof, want.credits.get(addr(A))!.toString());

    // Events are read in windows (public RPCs cap one eth_getLogs): windows of one block give what one read gives.
    const conn = { provider: f.provider, wallet: f.wallets[0]!, c: f.c, d: f.deployment, chainId: f.chainId };
    const names = ['ClaimRevealed', 'RoundClaimed', 'SettlementPosted', 'SettlementFinalized'];
    const head = await f.provider.getBlockNumber();
    const whole = await readLogs(conn, f.c.ledger, names, f.deployment.block, head, 1_000_000);
    const windowed = await readLogs(conn, f.c.ledger, names, f.deployment.block, head, 1);
    assert.ok(whole.length >= 4 && head - f.deployment.block > 9);
    assert.deepEqual(
      windowed.map((x) => [x.log.blockNumber, x.log.index, x.ev.name]),
      whole.map((x) => [x.log.blockNumber, x.log.index, x.ev.name]),
    );

    const w = await a.withdraw();
    assert.deepEqual([w.owed, w.byProof], [0n, want.credits.get(addr(A))]);
    assert.equal(await tokenOf(A), want.credits.get(addr(A)));
    await assert.rejects(a.withdraw(), /nothing to withdraw/);
    await b.withdraw();
    assert.equal(await tokenOf(B), want.credits.get(addr(B)));
  });

  it("a hostile settler's root is challenged, judged wrong by drawn notary daemons, voided and slashed; the honest root follows", async () => {
    const e = await epochOfClaims(2);
    const want = await creditsOf(e);
    const basis = await settlementBasis(f, e);
    // The hostile node credits itself the epoch's per-node cap on top of everyone's real totals so far.
    const cumulative = new Map<string, bigint>([
      [addr(A), (await f.c.ledger.getFunction('withdrawnCumulative')(addr(A))) as bigint],
      [addr(B), (await f.c.ledger.getFunction('withdrawnCumulative')(addr(B))) as bigint],
      [addr(HOSTILE), basis[1]],
    ]);
    const leafOf = (node: string) => settlementLeafHash(node, cumulative.get(node)!, f.chainId, f.deployment.addresses.ledger);
    const bad = buildRoundTree([...cumulative.keys()].map(leafOf));
    await send(f.as(HOSTILE).ledger, 'postSettlement', e, bad.root, basis[1], ...basis);
    const bondBefore = (await f.c.registry.getFunction('nodeOf')(addr(HOSTILE))).bond as bigint;

    await a.tick(); // A checks the posting, finds it wrong, challenges it as a notary
    const id = ((await f.c.panel.getFunction('challengeCount')()) as bigint) - 1n;
    const ch = await f.c.panel.getFunction('challengeOf')(id);
    assert.deepEqual([ch.kind, ch.node, ch.challenger, ch.epoch], [4n, addr(HOSTILE), addr(A), e]);
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await f.provider.send('evm_mine', []); // past the draw block (anvil mines only on demand)
    await tickAll(); // the panel is drawn (B and the notary: the challenger and the accused never sit)
    await tickAll(); // both vote to uphold
    const ruled = await f.c.panel.getFunction('challengeOf')(id);
    assert.deepEqual([ruled.votesUphold, ruled.votesReject], [2n, 0n]);
    assert.equal((await f.c.ledger.getFunction('settlementOf')(e)).finalized, false, 'a challenged root is never finalized');
    await increaseTime(f.provider, Number(f.p.slashDelay));
    await tickAll(); // the upheld slash is executed, the posting voided; A posts the honest root
    assert.equal((await f.c.panel.getFunction('challengeOf')(id)).status, STATUS_EXECUTED);
    assert.ok(((await f.c.registry.getFunction('nodeOf')(addr(HOSTILE))).bond as bigint) < bondBefore, 'the hostile settler is slashed');
    const honest = await f.c.ledger.getFunction('settlementOf')(e);
    assert.deepEqual([honest.settler, honest.total, honest.voided], [addr(A), want.total, false]);
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await tickAll();
    await tickAll();
    assert.deepEqual([stateOf(a, e), stateOf(b, e)], ['paid', 'paid']);
    assert.deepEqual([rewardOf(a, e), rewardOf(b, e)], [want.credits.get(addr(A)), want.credits.get(addr(B))]);
    await rejectsWith(
      f.as(HOSTILE).ledger.getFunction('withdrawCumulative')(basis[1], bad.proof(leafOf(addr(HOSTILE)))),
      'LedgerInvalidSettlementProof',
    );
    const before = await tokenOf(A);
    const w = await a.withdraw();
    assert.equal(w.byProof, want.credits.get(addr(A)), 'the growth of its credit since its last withdrawal');
    assert.equal(await tokenOf(A), before + want.credits.get(addr(A))!);
  });
});
