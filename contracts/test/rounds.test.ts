import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { hexlify, parseEther, randomBytes } from 'ethers';
import { computeEpochRewards } from '../../daemon/src/chain/calculator.js';
import { buildRoundTree, roundClaimTuple, roundLeafHash, type RoundLeaf } from '../../daemon/src/chain/round-tree.js';
import { receiptTuple } from '../../daemon/src/chain/receipt.js';
import { increaseTime, revert, snapshot, startAnvil, type Anvil } from './helpers/anvil.js';
import {
  commitClaim,
  deployFixture,
  drawPanel,
  joinNotary,
  makeReceipt,
  nextEpoch,
  openChallenge,
  register,
  rejectsWith,
  revealClaim,
  send,
  signed,
  timeTo,
  windowsOf,
  type Fixture,
} from './helpers/fixture.js';

const ROUND = 3; // INotaryPanel.Kind.Round
const LEADER = 9;
const OTHER_LEADER = 8;
const SYBIL = 5; // a registered key the hostile leader vouches for
const NOTARIES = [10, 11, 12, 13, 14, 15];
const TOKEN_CAP = 100_000n;

interface Round {
  epoch: bigint;
  leader: number;
  round: bigint;
  root: string;
  /** The claim tuple and proof of wallet `i`'s leaf. */
  claimOf(i: number): [ReturnType<typeof roundClaimTuple>, string[]];
}

/**
 * Round roots against a real anvil: a leader commits one root per round, each contributor claims its own leaf with a
 * proof, and a panel that upholds a Round challenge voids every root the leader committed for the epoch.
 */
describe('ContributionLedger round roots', () => {
  let anvil: Anvil;
  let f: Fixture;
  let snap: string;
  before(async () => {
    anvil = await startAnvil();
    // The deployer keeps the governor role (no timelock) so nothing here waits two days; the caps are the real ones.
    f = await deployFixture(anvil, { maxTokensPerClaim: TOKEN_CAP, maxRewardShareBps: 10_000 }, { governance: 'deployer' });
    for (const i of [1, 2, 3, 4, SYBIL, OTHER_LEADER, LEADER]) await register(f, i, 1);
    for (const i of NOTARIES) await joinNotary(f, i, parseEther('20'));
    snap = await snapshot(f.provider);
  });
  after(async () => anvil?.stop());
  beforeEach(async () => {
    await revert(f.provider, snap);
    snap = await snapshot(f.provider);
  });

  const addr = (i: number) => f.wallets[i]!.address;
  const ledgerAs = (i: number) => f.as(i).ledger;
  const owed = async (i: number) => (await f.c.ledger.getFunction('owed')(addr(i))) as bigint;
  const claimOf = async (e: bigint, i: number) => f.c.ledger.getFunction('claimOf')(e, addr(i));

  /** Builds a round of `leader` with one leaf per contributor (tokens, score) and commits it unless `commit` is false. */
  async function makeRound(
    e: bigint,
    leader: number,
    round: bigint,
    leaves: { node: number; tokens: bigint; score: bigint }[],
    o: { contributors?: number; maxTokens?: bigint; commit?: boolean } = {},
  ): Promise<Round> {
    const full: (RoundLeaf & { i: number })[] = leaves.map((l, index) => ({
      i: l.node,
      leader: addr(leader),
      epoch: e,
      round,
      index,
      node: addr(l.node),
      tokens: l.tokens,
      score: l.score,
      gradientHash: hexlify(randomBytes(32)),
    }));
    const hashes = full.map((l) => roundLeafHash(l, f.chainId, f.deployment.addresses.ledger));
    const tree = buildRoundTree(hashes);
    if (o.commit !== false) {
      await send(ledgerAs(leader), 'commitRound', e, round, tree.root, o.contributors ?? leaves.length, o.maxTokens ?? TOKEN_CAP);
    }
    return {
      epoch: e,
      leader,
      round,
      root: tree.root,
      claimOf(i: number) {
        const k = full.findIndex((l) => l.i === i);
        const l = full[k]!;
        return [roundClaimTuple(l), tree.proof(hashes[k]!)];
      },
    };
  }

  const claim = (i: number, r: Round, from = i) => send(ledgerAs(i), 'claimRound', ...r.claimOf(from));
  const claimFails = (i: number, r: Round, error: string, from = i) =>
    rejectsWith(ledgerAs(i).getFunction('claimRound')(...r.claimOf(from)), error);

  it('computes the same leaf as the daemon, and pays the claims of a round as the calculator does', async () => {
    const e = await nextEpoch(f);
    const leaves = [
      { node: 1, tokens: 1000n, score: 900_000n },
      { node: 2, tokens: 2000n, score: 500_000n },
      { node: 3, tokens: TOKEN_CAP, score: 1_000_000n },
    ];
    const r = await makeRound(e, LEADER, 1n, leaves);
    const [tuple] = r.claimOf(2);
    const [epoch, leader, round, index, tokens, score, gradientHash] = tuple;
    assert.equal(
      await f.c.ledger.getFunction('roundLeaf')(addr(2), tuple),
      roundLeafHash({ leader, epoch, round, index, node: addr(2), tokens, score, gradientHash }, f.chainId, f.deployment.addresses.ledger),
    );
    const committed = await f.c.ledger.getFunction('roundOf')(addr(LEADER), 1n);
    assert.deepEqual([committed.root, committed.epoch, committed.maxTokens, committed.contributors], [r.root, e, TOKEN_CAP, 3n]);
    assert.deepEqual([...(await f.c.ledger.getFunction('roundsLed')(e, addr(LEADER)))], [1n]);
    const w = await windowsOf(f, e);
    await claimFails(1, r, 'LedgerRevealOutsideWindow');
    await timeTo(f, w.reveal);
    for (const l of leaves) await claim(l.node, r);
    await timeTo(f, w.settle);
    await send(f.c.ledger, 'settle', e, 10);
    const expected = computeEpochRewards({
      epochPool: f.p.epochPool,
      dailyCap: f.p.dailyCap,
      emittedOnDay: 0n,
      maxRewardShareBps: f.p.maxRewardShareBps,
      claims: leaves.map((l) => ({ node: addr(l.node), tierMultiplierBps: f.p.tierMultiplierBps[1]!, tokens: l.tokens, score: l.score })),
    });
    for (const [k, l] of leaves.entries()) assert.equal(await owed(l.node), expected.rewards[k], `node ${l.node}`);
    assert.equal(await owed(LEADER), 0n, 'the leader earns nothing from its own root');
  });

  it("refuses a leaf that is not the sender's, one over the round's tokens, the leader's own, and more leaves than declared", async () => {
    const e = await nextEpoch(f);
    // The hostile leader put itself and five nodes in a tree (indexes 0..5) but declares three contributors and 5,000
    // tokens each: only leaves 0..2 can be claimed.
    const r = await makeRound(
      e,
      LEADER,
      1n,
      [
        { node: 1, tokens: 5000n, score: 1n },
        { node: 2, tokens: 5001n, score: 1n },
        { node: 3, tokens: 10n, score: 1n },
        { node: 4, tokens: 10n, score: 1n },
        { node: LEADER, tokens: 10n, score: 1n },
        { node: SYBIL, tokens: 10n, score: 1n },
      ],
      { contributors: 3, maxTokens: 5000n },
    );
    await timeTo(f, (await windowsOf(f, e)).reveal);
    await claimFails(2, r, 'LedgerTokensOverCap'); // 5,001 > the round's 5,000
    await claimFails(SYBIL, r, 'LedgerInvalidProof', 1); // another node's leaf: the proof does not hold for the sender
    await claimFails(LEADER, r, 'LedgerSelfVouched');
    const bent = r.claimOf(1);
    bent[1] = [...bent[1]];
    bent[1][0] = hexlify(randomBytes(32));
    await rejectsWith(ledgerAs(1).getFunction('claimRound')(...bent), 'LedgerInvalidProof');
    for (const i of [1, 3]) await claim(i, r);
    await claimFails(1, r, 'LedgerLeafClaimed');
    await claimFails(4, r, 'LedgerLeafIndexOutOfRange'); // index 3 of 3 declared
    await claimFails(SYBIL, r, 'LedgerLeafIndexOutOfRange');
    assert.equal((await f.c.ledger.getFunction('roundOf')(addr(LEADER), 1n)).claimedBits, 0b101n);
    // Not in the tree at all, and a round never committed.
    const uncommitted = await makeRound(e, OTHER_LEADER, 1n, [{ node: 1, tokens: 1n, score: 1n }], { commit: false });
    await claimFails(1, uncommitted, 'LedgerUnknownRound');
  });

  it('takes one root per (leader, round) in the commit window, from an active leader, within the bounds', async () => {
    const e = await nextEpoch(f);
    const root = hexlify(randomBytes(32));
    const commit = (i: number, round: bigint, o: Partial<{ root: string; contributors: number; maxTokens: bigint; epoch: bigint }> = {}) =>
      ledgerAs(i).getFunction('commitRound')(o.epoch ?? e, round, o.root ?? root, o.contributors ?? 4, o.maxTokens ?? 1000n);
    await rejectsWith(commit(7, 1n), 'LedgerNodeNotActive'); // a key nobody bonded
    await rejectsWith(commit(LEADER, 1n, { root: '0x' + '00'.repeat(32) }), 'LedgerInvalidRound');
    await rejectsWith(commit(LEADER, 1n, { contributors: 0 }), 'LedgerInvalidRound');
    await rejectsWith(commit(LEADER, 1n, { contributors: 257 }), 'LedgerInvalidRound');
    await rejectsWith(commit(LEADER, 1n, { maxTokens: TOKEN_CAP + 1n }), 'LedgerInvalidRound');
    await rejectsWith(commit(LEADER, 1n, { epoch: e + 1n }), 'LedgerCommitOutsideWindow');
    for (const round of [1n, 2n, 3n, 4n]) await send(ledgerAs(LEADER), 'commitRound', e, round, root, 4, 1000n);
    await rejectsWith(commit(LEADER, 1n), 'LedgerRoundAlreadyCommitted');
    await rejectsWith(commit(LEADER, 5n), 'LedgerTooManyRounds');
    await timeTo(f, (await windowsOf(f, e)).reveal);
    await rejectsWith(commit(OTHER_LEADER, 1n), 'LedgerCommitOutsideWindow');
  });

  it('adds round weight to a revealed receipt claim, and refuses to mix while a commitment waits for its reveal', async () => {
    const e = await nextEpoch(f);
    const r = await makeRound(e, LEADER, 1n, [
      { node: 1, tokens: 1000n, score: 1000n },
      { node: 2, tokens: 1000n, score: 1000n },
    ]);
    const s1 = await signed(f, makeReceipt(f, 1, OTHER_LEADER, e, { tokens: 500n, score: 1000n }), 1, OTHER_LEADER);
    await commitClaim(f, 1, s1);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    await claimFails(1, r, 'LedgerRevealFirst');
    await revealClaim(f, 1, s1);
    await claim(1, r);
    await claim(2, r);
    const bps = BigInt(f.p.tierMultiplierBps[1]!);
    assert.equal((await claimOf(e, 1)).weight, bps * (500n + 1000n) * 1000n, 'receipt and round weight, one claim');
  });

  it('pays one contribution once: a receipt and a leaf for the same (leader, epoch, round, node) cannot both be claimed', async () => {
    const e = await nextEpoch(f);
    const viaRoot = await makeRound(e, LEADER, 1n, [{ node: 1, tokens: 1000n, score: 1000n }]);
    const viaReceipt = await makeRound(e, LEADER, 2n, [{ node: 2, tokens: 1000n, score: 1000n }]);
    const r2 = await signed(f, makeReceipt(f, 2, LEADER, e, { round: 2n, tokens: 1000n, score: 1000n }), 2, LEADER);
    await commitClaim(f, 2, r2);
    await timeTo(f, (await windowsOf(f, e)).reveal);
    await revealClaim(f, 2, r2);
    await claimFails(2, viaReceipt, 'LedgerContributionClaimed'); // revealed by receipt first
    await claim(1, viaRoot);
    // Claimed from the root first: the receipt of the same contribution is refused by the check a node runs before
    // it commits, in any later epoch.
    const r1 = await signed(f, makeReceipt(f, 1, LEADER, e, { round: 1n, tokens: 1000n, score: 1000n }), 1, LEADER);
    await rejectsWith(
      ledgerAs(1)
        .getFunction('checkClaim')
        .staticCall(e + 1n, receiptTuple(r1.r), r1.nodeSig, r1.leaderSig),
      'LedgerContributionClaimed',
    );
  });

  it("a panel that upholds a Round challenge voids the leader's roots of the epoch, takes their weight back and slashes the leader; other leaders' claims stand", async () => {
    const e = await nextEpoch(f);
    // The hostile leader vouches for its sybil at the round's cap twice over, and for honest node 1 once.
    const bad1 = await makeRound(e, LEADER, 1n, [
      { node: SYBIL, tokens: TOKEN_CAP, score: 1_000_000n },
      { node: 1, tokens: 100n, score: 1_000_000n },
    ]);
    const bad2 = await makeRound(e, LEADER, 2n, [{ node: SYBIL, tokens: TOKEN_CAP, score: 1_000_000n }]);
    const good = await makeRound(e, OTHER_LEADER, 1n, [
      { node: 1, tokens: 1000n, score: 1_000_000n },
      { node: 2, tokens: 1000n, score: 1_000_000n },
    ]);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    for (const [i, r] of [
      [SYBIL, bad1],
      [1, bad1],
      [SYBIL, bad2],
      [1, good],
      [2, good],
    ] as const) {
      await claim(i, r);
    }
    const bps = BigInt(f.p.tierMultiplierBps[1]!);
    const honest = (t: bigint) => bps * t * 1_000_000n;
    const before = (await f.c.ledger.getFunction('epochInfo')(e)).totalWeight as bigint;
    assert.equal(before, honest(2n * TOKEN_CAP) + honest(100n) + honest(2000n));
    // Before the challenge window, and against a node that led no round, a Round challenge cannot open.
    await rejectsWith(
      f.as(NOTARIES[0]!).panel.getFunction('challenge')(ROUND, addr(LEADER), e, { value: f.p.challengeBond }),
      'LedgerChallengeWindowClosed',
    );
    await timeTo(f, w.challenge);
    await rejectsWith(f.as(NOTARIES[0]!).panel.getFunction('challenge')(ROUND, addr(2), e, { value: f.p.challengeBond }), 'LedgerNoRounds');
    const id = await openChallenge(f, NOTARIES[0]!, ROUND, LEADER, e);
    const panel = await drawPanel(f, id);
    for (const i of panel) {
      if ((await f.c.panel.getFunction('challengeOf')(id)).status !== 1n) break;
      await send(f.as(i).panel, 'vote', id, true);
    }
    await timeTo(f, w.settle);
    await rejectsWith(f.c.ledger.getFunction('settle')(e, 10), 'LedgerChallengesPending');
    const bondBefore = (await f.c.registry.getFunction('nodeOf')(addr(LEADER))).bond as bigint;
    await increaseTime(f.provider, f.p.slashDelay);
    await send(f.as(7).panel, 'execute', id);
    const bondAfter = (await f.c.registry.getFunction('nodeOf')(addr(LEADER))).bond as bigint;
    assert.ok(bondAfter < bondBefore, 'the leader is slashed');
    for (const round of [1n, 2n]) assert.equal((await f.c.ledger.getFunction('roundOf')(addr(LEADER), round)).voided, true);
    assert.equal((await f.c.ledger.getFunction('roundOf')(addr(OTHER_LEADER), 1n)).voided, false);
    assert.equal((await claimOf(e, SYBIL)).weight, 0n, "the sybil's weight is gone");
    assert.equal((await claimOf(e, 1)).weight, honest(1000n), "node 1 keeps only the other leader's round");
    assert.equal((await f.c.ledger.getFunction('epochInfo')(e)).totalWeight, honest(2000n));
    await send(f.c.ledger, 'settle', e, 10);
    assert.equal(await owed(SYBIL), 0n);
    assert.equal(await owed(1), f.p.epochPool / 2n);
    assert.equal(await owed(2), f.p.epochPool / 2n);
  });

  it('a rejected Round challenge leaves every claim whole and costs the challenger', async () => {
    const e = await nextEpoch(f);
    const r = await makeRound(e, LEADER, 1n, [{ node: 1, tokens: 1000n, score: 1_000_000n }]);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    await claim(1, r);
    await timeTo(f, w.challenge);
    const id = await openChallenge(f, NOTARIES[0]!, ROUND, LEADER, e);
    const panel = await drawPanel(f, id);
    for (const i of panel) {
      if ((await f.c.panel.getFunction('challengeOf')(id)).status !== 1n) break;
      await send(f.as(i).panel, 'vote', id, false);
    }
    assert.equal((await f.c.panel.getFunction('challengeOf')(id)).status, 3n, 'rejected');
    assert.equal((await f.c.ledger.getFunction('roundOf')(addr(LEADER), 1n)).voided, false);
    assert.equal((await f.c.registry.getFunction('nodeOf')(addr(LEADER))).bond, f.p.minNodeBond);
    assert.ok(
      ((await f.c.panel.getFunction('notaryOf')(addr(NOTARIES[0]!))).bond as bigint) < parseEther('20'),
      'the challenger is slashed',
    );
    await timeTo(f, w.settle);
    await send(f.c.ledger, 'settle', e, 10);
    assert.equal(await owed(1), f.p.epochPool);
  });
});
