import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Wallet, hexlify, randomBytes } from 'ethers';
import { computeEpochRewards } from '../../daemon/src/chain/calculator.js';
import { commitment, receiptDigest, receiptStructHash, receiptTuple, signReceipt } from '../../daemon/src/chain/receipt.js';
import { increaseTime, revert, snapshot, startAnvil, type Anvil } from './helpers/anvil.js';
import {
  assertPanelSolvent,
  commitClaim,
  deployFixture,
  drawPanel,
  joinNotary,
  makeReceipt,
  nextEpoch,
  register,
  rejectsWith,
  revealClaim,
  send,
  sendAndWait,
  signed,
  timeTo,
  windowsOf,
  type Fixture,
} from './helpers/fixture.js';

const LEADER = 9;

describe('ContributionLedger and NotaryPanel', () => {
  let anvil: Anvil;
  let f: Fixture;
  let snap: string;
  before(async () => {
    anvil = await startAnvil();
    f = await deployFixture(anvil);
    for (const i of [1, 2, 3, 4, LEADER]) await register(f, i, i % 5);
    for (const i of [10, 11, 12, 13]) await joinNotary(f, i);
    snap = await snapshot(f.provider);
  });
  after(async () => anvil?.stop());
  beforeEach(async () => {
    await revert(f.provider, snap);
    snap = await snapshot(f.provider);
  });

  const owed = async (i: number) => (await f.c.ledger.getFunction('owed')(f.wallets[i]!.address)) as bigint;

  it('computes the same EIP-712 digest and commitment as the daemon', async () => {
    const r = makeReceipt(f, 1, LEADER, 7n);
    const nonce = hexlify(randomBytes(32));
    const ledger = f.deployment.addresses.ledger;
    assert.equal(await f.c.ledger.getFunction('hashReceipt')(receiptTuple(r)), receiptStructHash(r));
    assert.equal(await f.c.ledger.getFunction('receiptDigest')(receiptTuple(r)), receiptDigest(r, f.chainId, ledger));
    const onChain = await f.c.ledger.getFunction('commitmentOf')(receiptStructHash(r), nonce, f.wallets[1]!.address, 7n);
    assert.equal(onChain, commitment(r, nonce, f.wallets[1]!.address, f.chainId, ledger));
  });

  it('commits, reveals, settles like the off-chain calculator, pays once and refuses a second settlement', async () => {
    const e = await nextEpoch(f);
    const nodes = [1, 2, 3];
    const claims = await Promise.all(
      nodes.map((i) => signed(f, makeReceipt(f, i, LEADER, e, { tokens: BigInt(1000 * i), score: BigInt(100_000 * i) }), i, LEADER)),
    );
    for (const [k, i] of nodes.entries()) await commitClaim(f, i, claims[k]!);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    for (const [k, i] of nodes.entries()) await revealClaim(f, i, claims[k]!);
    await rejectsWith(f.c.ledger.getFunction('settle')(e, 10), 'LedgerChallengeWindowOpen');
    await timeTo(f, w.settle);
    await send(f.c.ledger, 'settle', e, 2); // two batches: 2 + 1
    await send(f.c.ledger, 'settle', e, 2);
    await rejectsWith(f.c.ledger.getFunction('settle')(e, 10), 'LedgerEpochAlreadySettled');
    const expected = computeEpochRewards({
      epochPool: f.p.epochPool,
      dailyCap: f.p.dailyCap,
      emittedOnDay: 0n,
      maxRewardShareBps: f.p.maxRewardShareBps,
      claims: claims.map((c, k) => ({
        node: c.r.node,
        tierMultiplierBps: f.p.tierMultiplierBps[nodes[k]! % 5]!,
        tokens: c.r.tokens,
        score: c.r.score,
      })),
    });
    for (const [k, i] of nodes.entries()) assert.equal(await owed(i), expected.rewards[k]);
    const info = await f.c.ledger.getFunction('epochInfo')(e);
    assert.equal(info.paid, expected.paid);
    assert.ok(expected.paid <= f.p.epochPool && f.p.epochPool - expected.paid < 3n);
    assert.equal(await f.c.token.getFunction('totalSupply')(), expected.paid, 'dust is never minted');
    await send(f.as(1).ledger, 'withdraw');
    assert.equal(await f.c.token.getFunction('balanceOf')(f.wallets[1]!.address), expected.rewards[0]);
    await rejectsWith(f.as(1).ledger.getFunction('withdraw')(), 'LedgerNothingToWithdraw');
  });

  it('refuses signatures by another key, for another chain id, for another contract, and a leader that is the node', async () => {
    const e = await nextEpoch(f);
    const ledger = f.deployment.addresses.ledger;
    const r = makeReceipt(f, 1, LEADER, e);
    const nonce = hexlify(randomBytes(32));
    await send(f.as(1).ledger, 'commit', e, commitment(r, nonce, f.wallets[1]!.address, f.chainId, ledger));
    await timeTo(f, (await windowsOf(f, e)).reveal);
    const good = await signReceipt(f.wallets[1]!, r, f.chainId, ledger);
    const leaderSig = await signReceipt(f.wallets[LEADER]!, r, f.chainId, ledger);
    const reveal = f.as(1).ledger.getFunction('reveal');
    const stranger = Wallet.createRandom();
    await rejectsWith(
      reveal(e, receiptTuple(r), nonce, await signReceipt(stranger, r, f.chainId, ledger), leaderSig),
      'LedgerInvalidNodeSignature',
    );
    await rejectsWith(
      reveal(e, receiptTuple(r), nonce, await signReceipt(f.wallets[1]!, r, 1n, ledger), leaderSig),
      'LedgerInvalidNodeSignature',
    );
    await rejectsWith(
      reveal(e, receiptTuple(r), nonce, await signReceipt(f.wallets[1]!, r, f.chainId, f.deployment.addresses.panel), leaderSig),
      'LedgerInvalidNodeSignature',
    );
    await rejectsWith(
      reveal(e, receiptTuple(r), nonce, good, await signReceipt(f.wallets[2]!, r, f.chainId, ledger)),
      'LedgerInvalidLeaderSignature',
    );
    await rejectsWith(
      reveal(e, receiptTuple(r), nonce, good, await signReceipt(f.wallets[LEADER]!, r, 5n, ledger)),
      'LedgerInvalidLeaderSignature',
    );
    await rejectsWith(f.as(2).ledger.getFunction('reveal')(e, receiptTuple(r), nonce, good, leaderSig), 'LedgerNotClaimant');
    await send(f.as(1).ledger, 'reveal', e, receiptTuple(r), nonce, good, leaderSig);
    // Replay of the same signed receipt: the commitment is spent.
    await rejectsWith(reveal(e, receiptTuple(r), nonce, good, leaderSig), 'LedgerNoCommitment');
  });

  it('takes a receipt in a later epoch within the delay bound, never before its own epoch, and only once', async () => {
    const e = await nextEpoch(f);
    const first = await signed(f, makeReceipt(f, 1, LEADER, e), 1, LEADER);
    const second = await signed(f, makeReceipt(f, 1, LEADER, e, { round: 2n }), 1, LEADER);
    await commitClaim(f, 1, first);
    await rejectsWith(f.as(1).ledger.getFunction('commit')(e, hexlify(randomBytes(32))), 'LedgerAlreadyCommitted');
    await timeTo(f, (await windowsOf(f, e)).reveal);
    await revealClaim(f, 1, first);
    // The second receipt of epoch e goes into the node's claim of epoch e + 1.
    const moved = { ...second, epoch: e + 1n };
    await timeTo(f, (await windowsOf(f, e + 1n)).commit);
    await commitClaim(f, 1, moved);
    const reveal = f.as(1).ledger.getFunction('reveal');
    const maxDelay = (await f.c.ledger.getFunction('MAX_CLAIM_DELAY_EPOCHS')()) as bigint;
    // Range checks come first: a receipt claimed before its own epoch, or too late.
    const early = await signed(f, makeReceipt(f, 1, LEADER, e + 2n), 1, LEADER);
    await rejectsWith(reveal(e + 1n, receiptTuple(early.r), early.nonce, early.nodeSig, early.leaderSig), 'LedgerReceiptEpochOutOfRange');
    await rejectsWith(
      reveal(e + maxDelay + 1n, receiptTuple(second.r), second.nonce, second.nodeSig, second.leaderSig),
      'LedgerReceiptEpochOutOfRange',
    );
    await timeTo(f, (await windowsOf(f, e + 1n)).reveal);
    await revealClaim(f, 1, moved);
    // The first receipt once more, in epoch e + 2: the receipt is spent.
    const again = { ...first, nonce: hexlify(randomBytes(32)), epoch: e + 2n };
    await timeTo(f, (await windowsOf(f, e + 2n)).commit);
    await commitClaim(f, 1, again);
    await timeTo(f, (await windowsOf(f, e + 2n)).reveal);
    await rejectsWith(reveal(e + 2n, receiptTuple(again.r), again.nonce, again.nodeSig, again.leaderSig), 'LedgerReceiptReplayed');
    await timeTo(f, (await windowsOf(f, e + 1n)).settle);
    await send(f.c.ledger, 'settle', e, 10);
    await send(f.c.ledger, 'settle', e + 1n, 10);
    assert.equal((await f.c.ledger.getFunction('claimOf')(e, f.wallets[1]!.address)).status, 5n, 'paid');
    assert.equal((await f.c.ledger.getFunction('claimOf')(e + 1n, f.wallets[1]!.address)).status, 5n, 'paid');
  });

  it('reports a transaction that was mined and reverted with the contract error, replayed on its block (test harness)', async () => {
    // An explicit gas limit skips the estimate, as a window closing between estimate and block effectively does.
    await rejectsWith(sendAndWait(f.as(8).ledger, 'withdraw', { gasLimit: 200_000 }), 'LedgerNothingToWithdraw');
  });

  it('refuses an unregistered leader, an unregistered or unbonding node, and a score over the cap', async () => {
    const e = await nextEpoch(f);
    const ledger = f.deployment.addresses.ledger;
    await rejectsWith(f.as(5).ledger.getFunction('commit')(e, hexlify(randomBytes(32))), 'LedgerNodeNotActive');
    await send(f.as(4).registry, 'requestUnbond');
    await rejectsWith(f.as(4).ledger.getFunction('commit')(e, hexlify(randomBytes(32))), 'LedgerNodeNotActive');
    const bad = [
      await signed(f, makeReceipt(f, 1, 6, e), 1, 6),
      await signed(f, makeReceipt(f, 2, LEADER, e, { score: 1_000_001n }), 2, LEADER),
    ];
    await commitClaim(f, 1, bad[0]!);
    await commitClaim(f, 2, bad[1]!);
    await timeTo(f, (await windowsOf(f, e)).reveal);
    await rejectsWith(
      f.as(1).ledger.getFunction('reveal')(e, receiptTuple(bad[0]!.r), bad[0]!.nonce, bad[0]!.nodeSig, bad[0]!.leaderSig),
      'LedgerLeaderNotRegistered',
    );
    await rejectsWith(
      f.as(2).ledger.getFunction('reveal')(e, receiptTuple(bad[1]!.r), bad[1]!.nonce, bad[1]!.nodeSig, bad[1]!.leaderSig),
      'LedgerScoreOverCap',
    );
    void ledger;
  });

  it('refuses a commit or a reveal outside its window, a second commit, and a reveal that does not match', async () => {
    const e = await nextEpoch(f);
    const s = await signed(f, makeReceipt(f, 1, LEADER, e), 1, LEADER);
    const commit = f.as(1).ledger.getFunction('commit');
    await rejectsWith(commit(e + 1n, hexlify(randomBytes(32))), 'LedgerCommitOutsideWindow'); // too early
    await commitClaim(f, 1, s);
    await rejectsWith(commit(e, hexlify(randomBytes(32))), 'LedgerAlreadyCommitted');
    const reveal = f.as(1).ledger.getFunction('reveal');
    await rejectsWith(reveal(e, receiptTuple(s.r), s.nonce, s.nodeSig, s.leaderSig), 'LedgerRevealOutsideWindow'); // too early
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    await rejectsWith(f.as(2).ledger.getFunction('commit')(e, hexlify(randomBytes(32))), 'LedgerCommitOutsideWindow'); // too late
    await rejectsWith(reveal(e, receiptTuple(s.r), hexlify(randomBytes(32)), s.nodeSig, s.leaderSig), 'LedgerRevealMismatch');
    const changed = { ...s.r, tokens: s.r.tokens + 1n };
    await rejectsWith(reveal(e, receiptTuple(changed), s.nonce, s.nodeSig, s.leaderSig), 'LedgerRevealMismatch');
    await timeTo(f, w.challenge);
    await rejectsWith(reveal(e, receiptTuple(s.r), s.nonce, s.nodeSig, s.leaderSig), 'LedgerRevealOutsideWindow'); // too late
    // Never revealed: a no-show, slashed once at the no-reveal rate with the reporter's share.
    await rejectsWith(f.as(7).ledger.getFunction('markNoShow')(e, f.wallets[1]!.address), 'AccessControlUnauthorizedAccount');
    await send(f.as(7).panel, 'reportNoShow', e, f.wallets[1]!.address);
    await rejectsWith(f.as(7).panel.getFunction('reportNoShow')(e, f.wallets[1]!.address), 'LedgerNotNoShow');
    const n = await f.c.registry.getFunction('nodeOf')(f.wallets[1]!.address);
    assert.equal(n.bond, f.p.minNodeBond - (f.p.minNodeBond * BigInt(f.p.slashRateBps[3]!)) / 10_000n);
  });

  it('keeps every day under the daily cap (the third full epoch of a day gets only the rest)', async () => {
    const byDay = new Map<bigint, bigint[]>();
    for (let k = 0; k < 4; k++) {
      const e = await nextEpoch(f);
      const s = await signed(f, makeReceipt(f, 1, LEADER, e), 1, LEADER);
      await commitClaim(f, 1, s);
      const w = await windowsOf(f, e);
      await timeTo(f, w.reveal);
      await revealClaim(f, 1, s);
      await timeTo(f, w.settle);
      await send(f.c.ledger, 'settle', e, 10);
      const day = w.commit / 86_400n;
      byDay.set(day, [...(byDay.get(day) ?? []), (await f.c.ledger.getFunction('epochInfo')(e)).paid as bigint]);
    }
    let sawCap = false;
    for (const [day, paid] of byDay) {
      const sum = paid.reduce((x, y) => x + y, 0n);
      assert.ok(sum <= f.p.dailyCap, `day ${day}: ${sum} over the cap`);
      assert.equal(await f.c.ledger.getFunction('emittedOnDay')(day), sum);
      if (paid.length >= 3) {
        assert.equal(paid[2], f.p.dailyCap - 2n * f.p.epochPool);
        sawCap = true;
      }
    }
    // Four consecutive epochs span at most two days, so one day holds three of them unless the split is 2 + 2.
    if (!sawCap)
      assert.deepEqual(
        [...byDay.values()].map((v) => v.length),
        [2, 2],
      );
  });

  it('pays nothing and mints nothing when every score is zero', async () => {
    const e = await nextEpoch(f);
    const s = await signed(f, makeReceipt(f, 1, LEADER, e, { score: 0n }), 1, LEADER);
    await commitClaim(f, 1, s);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    await revealClaim(f, 1, s);
    await timeTo(f, w.settle);
    await send(f.c.ledger, 'settle', e, 10);
    assert.equal(await owed(1), 0n);
    assert.equal(await f.c.token.getFunction('totalSupply')(), 0n);
  });

  it('upholds a challenge by a drawn panel: slash waits its delay, then claim voided, node slashed, challenger paid, every wei accounted for', async () => {
    const e = await nextEpoch(f);
    const a = await signed(f, makeReceipt(f, 1, LEADER, e), 1, LEADER);
    const b = await signed(f, makeReceipt(f, 2, LEADER, e), 2, LEADER);
    await commitClaim(f, 1, a);
    await commitClaim(f, 2, b);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    await revealClaim(f, 1, a);
    await revealClaim(f, 2, b);
    const node1 = f.wallets[1]!.address;
    const bond = f.p.challengeBond;
    // Bad input: a challenge by a wallet without a notary bond, one without the deposit, a direct ledger hook call.
    await rejectsWith(f.as(5).panel.getFunction('challenge')(0, node1, e, { value: bond }), 'PanelNotBondedNotary');
    await timeTo(f, w.challenge);
    await rejectsWith(f.as(10).panel.getFunction('challenge')(0, node1, e, { value: bond - 1n }), 'PanelChallengeBondTooLow');
    await send(f.as(10).panel, 'challenge', 0, node1, e, { value: bond });
    await rejectsWith(f.as(11).panel.getFunction('challenge')(0, node1, e, { value: bond }), 'PanelChallengeExists');
    await rejectsWith(f.as(11).panel.getFunction('vote')(0, true), 'PanelNotDrawn');
    await rejectsWith(f.c.panel.getFunction('draw')(0), 'PanelDrawTooEarly');
    // Fewer eligible notaries than panelSize: the panel is all of them, the challenger excluded.
    assert.deepEqual((await drawPanel(f, 0n)).sort(), [11, 12, 13]);
    await rejectsWith(f.c.panel.getFunction('draw')(0), 'PanelAlreadyDrawn');
    await rejectsWith(f.as(5).panel.getFunction('vote')(0, true), 'PanelNotPanelist');
    await rejectsWith(f.as(10).panel.getFunction('vote')(0, true), 'PanelConflictOfInterest');
    await rejectsWith(f.as(5).ledger.getFunction('closeChallenge')(e, node1, true), 'AccessControlUnauthorizedAccount');
    await send(f.as(11).panel, 'vote', 0, true);
    await rejectsWith(f.as(11).panel.getFunction('vote')(0, true), 'PanelAlreadyVoted');
    await timeTo(f, w.settle);
    await rejectsWith(f.c.ledger.getFunction('settle')(e, 10), 'LedgerChallengesPending');
    await send(f.as(12).panel, 'vote', 0, true); // 2 votes holding 2/3 of the panel's bond: upheld
    await rejectsWith(f.as(13).panel.getFunction('vote')(0, true), 'PanelChallengeNotOpen');
    // A bad claim is a heavy offence: nothing is slashed or voided before the delay, and the epoch waits.
    assert.equal((await f.c.panel.getFunction('challengeOf')(0)).status, 2n, 'Upheld, slash pending');
    await rejectsWith(f.c.ledger.getFunction('settle')(e, 10), 'LedgerChallengesPending');
    await rejectsWith(f.as(7).panel.getFunction('execute')(0), 'PanelSlashDelayNotOver');
    assert.equal((await f.c.registry.getFunction('nodeOf')(node1)).bond, f.p.minNodeBond);
    await increaseTime(f.provider, f.p.slashDelay);
    await send(f.as(7).panel, 'execute', 0);
    await rejectsWith(f.as(7).panel.getFunction('execute')(0), 'PanelNotExecutable');
    await send(f.c.ledger, 'settle', e, 10);
    assert.equal(await owed(1), 0n, 'voided claim earns nothing');
    assert.equal(await owed(2), f.p.epochPool, 'the other claim takes the whole pool');
    const slashed = (f.p.minNodeBond * BigInt(f.p.slashRateBps[0]!)) / 10_000n;
    assert.equal((await f.c.registry.getFunction('nodeOf')(node1)).bond, f.p.minNodeBond - slashed);
    const toChallenger = (slashed * BigInt(f.p.challengerShareBps)) / 10_000n;
    assert.equal(await f.c.registry.getFunction('payouts')(f.wallets[10]!.address), toChallenger);
    assert.equal(await f.c.panel.getFunction('payouts')(f.wallets[10]!.address), bond, 'the deposit comes back');
    const g = (k: string) => f.c.registry.getFunction(k)() as Promise<bigint>;
    assert.equal(await g('totalSlashed'), (await g('totalBurned')) + (await g('totalPayouts')));
    assert.equal(
      await f.provider.getBalance(f.deployment.addresses.registry),
      (await g('totalBonded')) + (await g('totalPayouts')) + (await g('totalBurned')),
    );
    const t = await assertPanelSolvent(f);
    assert.deepEqual([t.challengeBonds, t.payouts, t.burned], [0n, bond, 0n]);
    await send(f.as(10).panel, 'withdrawPayout');
    await rejectsWith(f.as(10).panel.getFunction('withdrawPayout')(), 'PanelNothingToWithdraw');
    assert.equal((await assertPanelSolvent(f)).payouts, 0n);
  });

  it('burns the deposit and slashes a frivolous challenger when the panel rejects; an expired challenge costs the challenger, never the node', async () => {
    const e = await nextEpoch(f);
    const a = await signed(f, makeReceipt(f, 1, LEADER, e), 1, LEADER);
    await commitClaim(f, 1, a);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    await revealClaim(f, 1, a);
    await timeTo(f, w.challenge);
    const bond = f.p.challengeBond;
    await send(f.as(10).panel, 'challenge', 0, f.wallets[1]!.address, e, { value: bond });
    await drawPanel(f, 0n);
    await send(f.as(11).panel, 'vote', 0, false);
    await send(f.as(12).panel, 'vote', 0, false);
    const notary = await f.c.panel.getFunction('notaryOf')(f.wallets[10]!.address);
    const frivolous = (f.p.minNotaryBond * BigInt(f.p.slashRateBps[4]!)) / 10_000n;
    assert.equal(notary.bond, f.p.minNotaryBond - frivolous);
    assert.equal(notary.openChallenges, 0n);
    assert.equal(await f.c.panel.getFunction('totalNotarySlashed')(), frivolous);
    let t = await assertPanelSolvent(f);
    assert.deepEqual([t.challengeBonds, t.payouts, t.burned], [0n, 0n, bond], 'the deposit is burned');
    // A registration challenge that reaches no ruling expires; the node's bond is untouched and unlocked, the
    // challenger gets its deposit back less the expiry penalty.
    await send(f.as(11).panel, 'challenge', 2, f.wallets[2]!.address, 0, { value: bond });
    assert.equal((await f.c.registry.getFunction('nodeOf')(f.wallets[2]!.address)).openChallenges, 1n);
    await rejectsWith(f.as(11).panel.getFunction('expire')(1), 'PanelVotingOpen');
    await increaseTime(f.provider, f.p.adjudicationTimeout);
    await send(f.as(7).panel, 'expire', 1);
    const n2 = await f.c.registry.getFunction('nodeOf')(f.wallets[2]!.address);
    assert.equal(n2.bond, f.p.minNodeBond);
    assert.equal(n2.openChallenges, 0n);
    const penalty = (bond * BigInt(f.p.expiryPenaltyBps)) / 10_000n;
    assert.equal(await f.c.panel.getFunction('payouts')(f.wallets[11]!.address), bond - penalty);
    t = await assertPanelSolvent(f);
    assert.deepEqual([t.challengeBonds, t.payouts, t.burned], [0n, bond - penalty, bond + penalty]);
    await timeTo(f, w.settle);
    await send(f.c.ledger, 'settle', e, 10);
    assert.equal(await owed(1), f.p.epochPool);
  });

  it('lets only the ledger mint', async () => {
    await rejectsWith(f.as(1).token.getFunction('mint')(f.wallets[1]!.address, 1n), 'MagnetTokenUnauthorizedMinter');
  });
});
