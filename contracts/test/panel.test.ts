import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { AbiCoder, keccak256, parseEther } from 'ethers';
import { increaseTime, revert, snapshot, startAnvil, type Anvil } from './helpers/anvil.js';
import {
  assertPanelSolvent,
  commitClaim,
  deployFixture,
  drawPanel,
  joinNotary,
  makeReceipt,
  nextEpoch,
  openChallenge,
  panelOf,
  register,
  rejectsWith,
  revealClaim,
  send,
  signed,
  timeTo,
  windowsOf,
  type Fixture,
} from './helpers/fixture.js';

// Kinds and statuses as the contract's enums number them.
const CLAIM = 0;
const REGISTRATION = 2;
const OPEN = 1n;
const UPHELD = 2n;
const REJECTED = 3n;
const EXPIRED = 4n;
const APPEALED = 5n;
const EXECUTED = 6n;

const LEADER = 9;
/** Three colluding notaries at the minimum bond: one challenges, two vote. */
const CARTEL = [10, 11, 12];
/** Five honest notaries with four times the bond. */
const HONEST = [13, 14, 15, 16, 17];
const HONEST_BOND = parseEther('20');
/** More honest notaries, joined by the tests that need an appeal panel of 2 * panelSize. */
const MORE = [18, 19, 20, 21, 22, 23, 24, 25, 26, 27];

describe('NotaryPanel: drawn panels, stake quorum, deposits, slash delay and appeal', () => {
  let anvil: Anvil;
  let f: Fixture;
  let snap: string;
  before(async () => {
    anvil = await startAnvil({ accounts: 30 });
    // The deployer keeps the governor role here, to set panel rules and slash rates per test directly; the
    // timelocked path is economics.test.ts's.
    f = await deployFixture(anvil, {}, { governance: 'deployer' });
    for (const i of [1, 2, 3, LEADER]) await register(f, i, 1);
    for (const i of CARTEL) await joinNotary(f, i);
    for (const i of HONEST) await joinNotary(f, i, HONEST_BOND);
    snap = await snapshot(f.provider);
  });
  after(async () => anvil?.stop());
  beforeEach(async () => {
    await revert(f.provider, snap);
    snap = await snapshot(f.provider);
  });

  const addr = (i: number) => f.wallets[i]!.address;
  const challengeOf = (id: bigint) => f.c.panel.getFunction('challengeOf')(id);
  const statusOf = async (id: bigint) => (await challengeOf(id)).status as bigint;
  const nodeOf = (i: number) => f.c.registry.getFunction('nodeOf')(addr(i));
  const notaryBond = async (i: number) => (await f.c.panel.getFunction('notaryOf')(addr(i))).bond as bigint;
  const payout = async (i: number) => (await f.c.panel.getFunction('payouts')(addr(i))) as bigint;
  const bond = () => f.p.challengeBond;
  const penalty = (x: bigint) => (x * BigInt(f.p.expiryPenaltyBps)) / 10_000n;

  /** Panelists vote `uphold` one by one until the challenge leaves `status`; returns how many voted. */
  async function voteUntilRuled(id: bigint, panel: number[], uphold: boolean, status: bigint): Promise<number> {
    let n = 0;
    for (const i of panel) {
      if ((await statusOf(id)) !== status) break;
      await send(f.as(i).panel, 'vote', id, uphold);
      n++;
    }
    assert.notEqual(await statusOf(id), status, 'the panel ruled');
    return n;
  }

  /**
   * The draw recomputed off chain: candidates in roster order, a cumulative-sum walk per pick with r =
   * keccak256(seed, k) mod (bond left), the pick swapped with the last candidate. Checks the contract draws by bond.
   */
  async function expectedPanel(id: bigint, roster: number[], exclude: number[], size: number): Promise<number[]> {
    const c = await challengeOf(id);
    const hash = (await f.provider.getBlock(Number(c.drawBlock)))!.hash!;
    const abi = AbiCoder.defaultAbiCoder();
    const seed = keccak256(abi.encode(['bytes32', 'uint256'], [hash, id]));
    const cand = roster.filter((i) => !exclude.includes(i));
    const w = await Promise.all(cand.map(notaryBond));
    let total = w.reduce((a, b) => a + b, 0n);
    let m = cand.length;
    const out: number[] = [];
    for (let k = 0; k < Math.min(size, cand.length); k++) {
      let r = BigInt(keccak256(abi.encode(['bytes32', 'uint256'], [seed, k]))) % total;
      let j = 0;
      while (r >= w[j]!) r -= w[j++]!;
      out.push(cand[j]!);
      total -= w[j]!;
      m--;
      [cand[j], w[j]] = [cand[m]!, w[m]!];
    }
    return out;
  }

  it('a cartel of three among five honest notaries with larger bonds cannot uphold against an honest node; the expiry costs the challenger, never the node', async () => {
    const id = await openChallenge(f, 10, REGISTRATION, 1, 0n);
    const panel = await drawPanel(f, id);
    assert.equal(panel.length, f.p.panelSize);
    assert.equal(new Set(panel).size, panel.length, 'distinct panelists');
    assert.ok(!panel.includes(10) && !panel.includes(1), 'neither the challenger nor the accused sits');
    // A notary not drawn, an outsider and the challenger are refused; the cartel's drawn members vote uphold.
    const eligible = [11, 12, ...HONEST];
    for (const i of eligible.filter((i) => !panel.includes(i))) {
      await rejectsWith(f.as(i).panel.getFunction('vote')(id, true), 'PanelNotPanelist');
    }
    await rejectsWith(f.as(5).panel.getFunction('vote')(id, true), 'PanelNotPanelist');
    await rejectsWith(f.as(10).panel.getFunction('vote')(id, true), 'PanelConflictOfInterest');
    for (const i of [11, 12].filter((i) => panel.includes(i))) await send(f.as(i).panel, 'vote', id, true);
    // Five seats from two cartel and five honest notaries hold at least three honest bonds: the cartel's share of the
    // panel's bond stays under a seventh, far below the quorum, with the honest panelists absent.
    const c = await challengeOf(id);
    assert.equal(c.status, OPEN);
    assert.ok((c.stakeUphold as bigint) * 7n <= (c.panelBond as bigint), 'cartel stake <= 1/7 of the panel');
    assert.ok((c.stakeUphold as bigint) * 10_000n < BigInt(f.p.quorumBps) * (c.panelBond as bigint));
    await rejectsWith(f.as(7).panel.getFunction('execute')(id), 'PanelNotExecutable');
    await rejectsWith(f.as(7).panel.getFunction('expire')(id), 'PanelVotingOpen');
    await increaseTime(f.provider, f.p.adjudicationTimeout);
    await rejectsWith(f.as(panel[0]!).panel.getFunction('vote')(id, true), 'PanelVotingClosed');
    await send(f.as(7).panel, 'expire', id);
    assert.equal(await statusOf(id), EXPIRED);
    const n1 = await nodeOf(1);
    assert.equal(n1.bond, f.p.minNodeBond, 'the node pays nothing');
    assert.equal(n1.openChallenges, 0n, 'and its bond is released');
    assert.equal((await f.c.panel.getFunction('notaryOf')(addr(10))).openChallenges, 0n);
    assert.equal(await payout(10), bond() - penalty(bond()));
    const t = await assertPanelSolvent(f);
    assert.deepEqual([t.challengeBonds, t.payouts, t.burned], [0n, bond() - penalty(bond()), penalty(bond())]);
    assert.equal(await f.c.registry.getFunction('totalSlashed')(), 0n);
    // The target is free again: a new challenge may be opened.
    await openChallenge(f, 11, REGISTRATION, 1, 0n);
  });

  it('refuses votes before the draw, draws by bond from a later block hash, re-schedules when that hash is gone', async () => {
    await register(f, 13); // an honest notary that is also a node: as the accused it must not sit
    const id = await openChallenge(f, 10, REGISTRATION, 13, 0n);
    const c = await challengeOf(id);
    assert.equal(c.drawBlock, BigInt(await f.provider.getBlockNumber()) + 1n, 'seeded by the next block');
    await rejectsWith(f.as(14).panel.getFunction('vote')(id, true), 'PanelNotDrawn');
    await rejectsWith(f.c.panel.getFunction('draw')(id), 'PanelDrawTooEarly');
    // Over 256 blocks later the seed hash is gone: draw() moves the seed to the next block and draws nothing.
    await f.provider.send('anvil_mine', ['0x12c']);
    const rc = await (await f.c.panel.getFunction('draw')(id)).wait();
    assert.equal(f.c.panel.interface.parseLog(rc.logs[0])?.name, 'PanelDrawRescheduled');
    const moved = await challengeOf(id);
    assert.equal(moved.drawn, false);
    assert.equal(moved.drawBlock, BigInt(rc.blockNumber) + 1n);
    await rejectsWith(f.as(14).panel.getFunction('vote')(id, true), 'PanelNotDrawn');
    const panel = await drawPanel(f, id);
    assert.deepEqual(panel, await expectedPanel(id, [...CARTEL, ...HONEST], [10, 13], f.p.panelSize));
    // Seats weigh the bond at the draw; the panel's bond is their sum.
    let sum = 0n;
    for (const i of panel) {
      const seat = await f.c.panel.getFunction('seatOf')(id, addr(i));
      assert.equal(seat.weight, await notaryBond(i));
      assert.equal(seat.round, 0n);
      sum += seat.weight as bigint;
    }
    assert.equal((await challengeOf(id)).panelBond, sum);
    await assertPanelSolvent(f);
  });

  it('draws every eligible notary when fewer than panelSize are bonded, and none that is unbonding', async () => {
    for (const i of [14, 15, 16, 17]) await send(f.as(i).panel, 'requestUnbond');
    assert.equal(await f.c.panel.getFunction('rosterSize')(), 4n);
    const id = await openChallenge(f, 10, REGISTRATION, 2, 0n);
    assert.deepEqual((await drawPanel(f, id)).sort(), [11, 12, 13]);
    await rejectsWith(f.as(14).panel.getFunction('vote')(id, true), 'PanelNotPanelist');
  });

  it('needs both the stake quorum and minVotes: many light votes do not decide, nor does one heavy vote alone', async () => {
    await joinNotary(f, 18, parseEther('1000'));
    await send(f.c.params, 'setPanelRules', 32, f.p.quorumBps, 2); // a panel of every eligible notary
    const id = await openChallenge(f, 10, REGISTRATION, 1, 0n);
    assert.deepEqual(
      (await drawPanel(f, id)).sort((a, b) => a - b),
      [11, 12, ...HONEST, 18],
    );
    for (const i of HONEST) await send(f.as(i).panel, 'vote', id, false); // 5 votes, under a tenth of the stake
    await send(f.as(18).panel, 'vote', id, true); // over 90% of the stake, one vote
    assert.equal(await statusOf(id), OPEN);
    await send(f.as(11).panel, 'vote', id, true); // a second vote: both conditions hold
    assert.equal(await statusOf(id), UPHELD);
    await assertPanelSolvent(f);
  });

  it('a rejected challenge burns the deposit and slashes the frivolous notary bond; the node is released untouched', async () => {
    const id = await openChallenge(f, 10, REGISTRATION, 1, 0n);
    const panel = await drawPanel(f, id);
    await voteUntilRuled(
      id,
      panel.filter((i) => HONEST.includes(i)),
      false,
      OPEN,
    );
    assert.equal(await statusOf(id), REJECTED);
    const frivolous = (f.p.minNotaryBond * BigInt(f.p.slashRateBps[4]!)) / 10_000n;
    assert.equal(await notaryBond(10), f.p.minNotaryBond - frivolous);
    assert.equal(await payout(10), 0n, 'nothing comes back');
    const n1 = await nodeOf(1);
    assert.equal(n1.bond, f.p.minNodeBond);
    assert.equal(n1.openChallenges, 0n);
    const t = await assertPanelSolvent(f);
    assert.deepEqual([t.challengeBonds, t.payouts, t.burned, t.notarySlashed], [0n, 0n, bond(), frivolous]);
  });

  it('an upheld heavy slash waits slashDelay and an appeal to a fresh, larger panel that reverses it leaves the node whole', async () => {
    for (const i of MORE) await joinNotary(f, i, HONEST_BOND);
    const e = await nextEpoch(f);
    const s = await signed(f, makeReceipt(f, 1, LEADER, e), 1, LEADER);
    await commitClaim(f, 1, s);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    await revealClaim(f, 1, s);
    await timeTo(f, w.challenge);
    const id = await openChallenge(f, 10, CLAIM, 1, e);
    const first = await drawPanel(f, id);
    await voteUntilRuled(id, first, true, OPEN);
    const c = await challengeOf(id);
    assert.equal(c.status, UPHELD);
    assert.equal(c.executeAfter, BigInt((await f.provider.getBlock('latest'))!.timestamp) + f.p.slashDelay);
    // During the delay: the node is whole but locked, the claim stands, the epoch cannot settle.
    assert.equal((await nodeOf(1)).bond, f.p.minNodeBond);
    assert.equal((await nodeOf(1)).openChallenges, 1n);
    assert.equal((await f.c.ledger.getFunction('epochInfo')(e)).openChallenges, 1n);
    await timeTo(f, w.settle);
    await rejectsWith(f.c.ledger.getFunction('settle')(e, 10), 'LedgerChallengesPending');
    await rejectsWith(f.as(7).panel.getFunction('execute')(id), 'PanelSlashDelayNotOver');
    await rejectsWith(f.as(2).panel.getFunction('appeal')(id, { value: 2n * bond() }), 'PanelNotAccused');
    await rejectsWith(f.as(1).panel.getFunction('appeal')(id, { value: 2n * bond() - 1n }), 'PanelChallengeBondTooLow');
    await send(f.as(1).panel, 'appeal', id, { value: 2n * bond() });
    assert.equal(await statusOf(id), APPEALED);
    await rejectsWith(f.as(1).panel.getFunction('appeal')(id, { value: 2n * bond() }), 'PanelNotAppealable');
    await rejectsWith(f.as(first[0]!).panel.getFunction('vote')(id, false), 'PanelNotDrawn');
    assert.equal((await assertPanelSolvent(f)).challengeBonds, 3n * bond());
    const second = await drawPanel(f, id);
    // 2 * panelSize seats from the 17 bonded notaries less the challenger and the first panel.
    assert.equal(second.length, 2 * f.p.panelSize);
    assert.ok(
      second.every((i) => !first.includes(i) && i !== 10 && i !== 1),
      'a fresh panel',
    );
    await rejectsWith(f.as(first[0]!).panel.getFunction('vote')(id, true), 'PanelNotPanelist');
    await voteUntilRuled(id, second, false, APPEALED);
    assert.equal(await statusOf(id), REJECTED, 'the appeal panel reversed the ruling; it is final');
    await rejectsWith(f.as(1).panel.getFunction('appeal')(id, { value: 2n * bond() }), 'PanelNotAppealable');
    await rejectsWith(f.as(7).panel.getFunction('execute')(id), 'PanelNotExecutable');
    const n1 = await nodeOf(1);
    assert.equal(n1.bond, f.p.minNodeBond, "the node's bond is intact");
    assert.equal(n1.openChallenges, 0n);
    assert.equal(await f.c.registry.getFunction('totalSlashed')(), 0n);
    assert.equal(await payout(1), 2n * bond(), 'the appeal deposit comes back');
    const t = await assertPanelSolvent(f);
    assert.deepEqual([t.challengeBonds, t.payouts, t.burned], [0n, 2n * bond(), bond()]);
    // The claim was never voided: it takes the whole pool.
    await send(f.c.ledger, 'settle', e, 10);
    assert.equal(await f.c.ledger.getFunction('owed')(addr(1)), f.p.epochPool);
  });

  it('executes an unappealed heavy slash after the delay, refuses a late appeal, and lets the first ruling stand when the appeal reaches none', async () => {
    for (const i of MORE) await joinNotary(f, i, HONEST_BOND);
    const a = await openChallenge(f, 10, REGISTRATION, 1, 0n);
    const b = await openChallenge(f, 11, REGISTRATION, 2, 0n);
    await voteUntilRuled(a, await drawPanel(f, a), true, OPEN);
    await voteUntilRuled(b, await drawPanel(f, b), true, OPEN);
    assert.equal(await statusOf(a), UPHELD);
    assert.equal(await statusOf(b), UPHELD);
    await send(f.as(2).panel, 'appeal', b, { value: 2n * bond() });
    await drawPanel(f, b); // the appeal panel stays away
    await rejectsWith(f.as(7).panel.getFunction('execute')(b), 'PanelVotingOpen');
    await increaseTime(f.provider, f.p.slashDelay); // past the delay of a and the appeal deadline of b
    await rejectsWith(f.as(1).panel.getFunction('appeal')(a, { value: 2n * bond() }), 'PanelAppealClosed');
    await send(f.as(7).panel, 'execute', a);
    assert.equal(await statusOf(a), EXECUTED);
    const rate = BigInt(f.p.slashRateBps[2]!);
    const slashed = (f.p.minNodeBond * rate) / 10_000n;
    assert.equal((await nodeOf(1)).bond, f.p.minNodeBond - slashed);
    assert.equal((await nodeOf(1)).openChallenges, 0n);
    assert.equal(await f.c.registry.getFunction('payouts')(addr(10)), (slashed * BigInt(f.p.challengerShareBps)) / 10_000n);
    assert.equal(await payout(10), bond(), 'the deposit comes back');
    await send(f.as(7).panel, 'execute', b);
    assert.equal(await statusOf(b), EXECUTED);
    assert.equal((await nodeOf(2)).bond, f.p.minNodeBond - slashed, 'the first ruling stands');
    assert.equal(await payout(2), 2n * bond() - penalty(2n * bond()), 'the appellant pays the expiry penalty');
    assert.equal(await payout(11), bond());
    const t = await assertPanelSolvent(f);
    assert.deepEqual([t.challengeBonds, t.payouts, t.burned], [0n, 2n * bond() + 2n * bond() - penalty(2n * bond()), penalty(2n * bond())]);
  });

  it('slashes an offence lighter than HEAVY_SLASH_BPS at the ruling', async () => {
    assert.equal(await f.c.panel.getFunction('HEAVY_SLASH_BPS')(), 5_000n);
    await send(f.c.params, 'setSlashRate', 2, 4_999);
    const id = await openChallenge(f, 10, REGISTRATION, 1, 0n);
    await voteUntilRuled(id, await drawPanel(f, id), true, OPEN);
    assert.equal(await statusOf(id), EXECUTED);
    assert.equal((await nodeOf(1)).bond, f.p.minNodeBond - (f.p.minNodeBond * 4_999n) / 10_000n);
    assert.equal((await nodeOf(1)).openChallenges, 0n);
    await rejectsWith(f.as(1).panel.getFunction('appeal')(id, { value: 2n * bond() }), 'PanelNotAppealable');
    const t = await assertPanelSolvent(f);
    assert.deepEqual([t.challengeBonds, t.payouts, t.burned], [0n, bond(), 0n]);
  });

  it('refuses unknown challenges with a custom error', async () => {
    for (const fn of ['draw', 'expire', 'execute']) await rejectsWith(f.c.panel.getFunction(fn)(99), 'PanelUnknownChallenge');
    await rejectsWith(f.as(1).panel.getFunction('appeal')(99, { value: 2n * bond() }), 'PanelUnknownChallenge');
    await rejectsWith(f.as(11).panel.getFunction('vote')(99, true), 'PanelUnknownChallenge');
    await rejectsWith(f.c.panel.getFunction('challengeOf')(99), 'PanelUnknownChallenge');
  });

  it('panelOf lists the panel of each round', async () => {
    const id = await openChallenge(f, 10, REGISTRATION, 1, 0n);
    assert.deepEqual(await panelOf(f, id), []);
    const panel = await drawPanel(f, id);
    assert.equal(panel.length, f.p.panelSize);
    assert.ok(panel.every((i) => i >= 11 && i <= 17));
  });
});
