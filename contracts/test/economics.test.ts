import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Contract, ZeroHash, hexlify, randomBytes } from 'ethers';
import { loadArtifact } from '../../daemon/src/chain/artifacts.js';
import { deployAll } from '../../daemon/src/chain/deploy.js';
import { receiptTuple } from '../../daemon/src/chain/receipt.js';
import { increaseTime, revert, snapshot, startAnvil, type Anvil } from './helpers/anvil.js';
import {
  commitClaim,
  deployFixture,
  keyAndNodeId,
  makeReceipt,
  nextEpoch,
  register,
  rejectsWith,
  revealClaim,
  send,
  signed,
  timeTo,
  windowsOf,
  type Fixture,
} from './helpers/fixture.js';

/**
 * The economics of claims against the default deployment (a timelock governs, nobody holds an admin role):
 * a colluding pair, a tier declared without the stake behind it, a governor changing parameters, and the
 * eth_call check a node runs before it commits a receipt.
 */
describe('claim economics and governance (default deployment)', () => {
  let anvil: Anvil;
  let f: Fixture;
  let snap: string;
  const SHARE_BPS = 2_000;
  const TOKEN_CAP = 100_000n;
  before(async () => {
    anvil = await startAnvil();
    f = await deployFixture(anvil, { maxRewardShareBps: SHARE_BPS, maxTokensPerClaim: TOKEN_CAP });
    snap = await snapshot(f.provider);
  });
  after(async () => anvil?.stop());
  beforeEach(async () => {
    await revert(f.provider, snap);
    snap = await snapshot(f.provider);
  });

  const addr = (i: number) => f.wallets[i]!.address;
  const owed = async (i: number) => (await f.c.ledger.getFunction('owed')(addr(i))) as bigint;
  const timelock = (): Contract => {
    const t = f.deployment.addresses.timelock;
    assert.ok(t, 'the default deployment has a timelock');
    return new Contract(t, loadArtifact('MagnetTimelock').abi, f.wallets[0]!.connect(f.provider));
  };
  /** Schedules `fn(args)` on Params through the timelock and returns a function that executes it. */
  const schedule = async (fn: string, ...args: unknown[]) => {
    const data = f.c.params.interface.encodeFunctionData(fn, args);
    const salt = hexlify(randomBytes(32));
    const t = timelock();
    await send(t, 'schedule', f.deployment.addresses.params, 0, data, ZeroHash, salt, f.p.timelockDelay);
    return () =>
      t
        .getFunction('execute')(f.deployment.addresses.params, 0, data, ZeroHash, salt)
        .then((tx) => tx.wait());
  };

  it('gives the deployer no role left: no parameter change, no slasher grant, no panel grant', async () => {
    assert.equal(await f.c.params.getFunction('isSealed')(), true);
    const gov = (await f.c.params.getFunction('GOVERNOR_ROLE')()) as string;
    assert.equal(await f.c.params.getFunction('hasRole')(gov, f.deployment.addresses.timelock), true);
    assert.equal(await f.c.params.getFunction('hasRole')(gov, addr(0)), false);
    await rejectsWith(f.c.params.getFunction('setPanelRules')(3, 6_666, 2), 'AccessControlUnauthorizedAccount');
    const slasher = (await f.c.registry.getFunction('SLASHER_ROLE')()) as string;
    await rejectsWith(f.c.registry.getFunction('grantRole')(slasher, addr(0)), 'AccessControlUnauthorizedAccount');
    const panelRole = (await f.c.ledger.getFunction('PANEL_ROLE')()) as string;
    await rejectsWith(f.c.ledger.getFunction('grantRole')(panelRole, addr(0)), 'AccessControlUnauthorizedAccount');
    // The roles the deployment wired stay: the panel alone slashes (rulings and no-shows) and rules on claims.
    assert.equal(await f.c.registry.getFunction('hasRole')(slasher, f.deployment.addresses.panel), true);
    assert.equal(await f.c.registry.getFunction('hasRole')(slasher, f.deployment.addresses.ledger), false);
    assert.equal(await f.c.ledger.getFunction('hasRole')(panelRole, f.deployment.addresses.panel), true);
  });

  it('hands the timelock to a named proposer (a multisig): the deployer keeps no role there either', async () => {
    const multisig = f.wallets[17]!.address;
    const d = await deployAll(f.wallets[0]!.connect(f.provider), f.p, undefined, { proposer: multisig });
    const t = new Contract(d.addresses.timelock!, loadArtifact('MagnetTimelock').abi, f.provider);
    const proposerRole = (await t.getFunction('PROPOSER_ROLE')()) as string;
    assert.equal(await t.getFunction('hasRole')(proposerRole, multisig), true);
    assert.equal(await t.getFunction('hasRole')(proposerRole, addr(0)), false, 'the deployer cannot schedule');
  });

  it('applies no parameter change before the timelock delay, and a bounded one after it', async () => {
    const pool = (await f.c.params.getFunction('epochPool')()) as bigint;
    const cap = (await f.c.params.getFunction('dailyCap')()) as bigint;
    const double = await schedule('setEmission', pool * 2n, cap * 2n);
    await rejectsWith(double(), 'TimelockUnexpectedOperationState');
    assert.equal(await f.c.params.getFunction('epochPool')(), pool, 'nothing changed before the delay');
    await increaseTime(f.provider, f.p.timelockDelay);
    await double();
    assert.equal(await f.c.params.getFunction('epochPool')(), pool * 2n);
    // Over the step bound: tripling a bond, or a challenger share over one half, fails even through the timelock.
    const triple = await schedule('setMinimumBonds', f.p.minNodeBond * 3n, f.p.minNotaryBond);
    const greedy = await schedule('setChallengerShare', 10_000);
    await increaseTime(f.provider, f.p.timelockDelay);
    await rejectsWith(triple(), 'ParamsChangeTooLarge');
    await rejectsWith(greedy(), 'ParamsInvalidBps');
    assert.equal(await f.c.params.getFunction('minNodeBond')(), f.p.minNodeBond);
    assert.equal(await f.c.params.getFunction('challengerShareBps')(), BigInt(f.p.challengerShareBps));
  });

  it('grandfathers a bond against a raised minimum: the node stays active, newcomers pay the new one', async () => {
    await register(f, 1, 1);
    const raise = await schedule('setMinimumBonds', f.p.minNodeBond * 2n, f.p.minNotaryBond);
    await increaseTime(f.provider, f.p.timelockDelay);
    await raise();
    assert.equal(await f.c.registry.getFunction('isActive')(addr(1)), true, 'registered under the old minimum');
    const { publicKey, nodeId } = keyAndNodeId(f.wallets[2]!);
    await rejectsWith(f.as(2).registry.getFunction('register')(publicKey, nodeId, 1, { value: f.p.minNodeBond }), 'RegistryBondTooLow');
    await register(f, 2, 1, f.p.minNodeBond * 2n);
    assert.equal(await f.c.registry.getFunction('isActive')(addr(2)), true);
  });

  it('counts a declared tier only as far as the bond backs it', async () => {
    await register(f, 1, 0); // claude_session (3.0x) declared on one minimum bond
    const mult = () => f.c.registry.getFunction('rewardMultiplierBps')(addr(1)) as Promise<bigint>;
    assert.equal(await mult(), 10_000n, 'one minimum bond backs 1.0x');
    await send(f.as(1).registry, 'addBond', { value: f.p.minNodeBond * 2n });
    assert.equal(await mult(), BigInt(f.p.tierMultiplierBps[0]!), 'three minimum bonds back the declared 3.0x');
    await register(f, 2, 4, f.p.minNodeBond * 5n); // mobile_light keeps its own 0.1x whatever the bond
    assert.equal(await f.c.registry.getFunction('rewardMultiplierBps')(addr(2)), BigInt(f.p.tierMultiplierBps[4]!));
  });

  it('lets a colluding pair take no more than its per-node caps, whatever receipts they sign each other', async () => {
    const [A, B, H1, H2] = [1, 2, 3, 4];
    for (const i of [A, B, H1, H2]) await register(f, i, 1);
    const e = await nextEpoch(f);
    // A and B sign each other receipts of maximal weight; two honest nodes carry ordinary ones from A as leader.
    const max = { tokens: TOKEN_CAP, score: 1_000_000n };
    const claims = [
      [A, await signed(f, makeReceipt(f, A, B, e, max), A, B)],
      [B, await signed(f, makeReceipt(f, B, A, e, max), B, A)],
      [H1, await signed(f, makeReceipt(f, H1, A, e, { tokens: 1000n, score: 100_000n }), H1, A)],
      [H2, await signed(f, makeReceipt(f, H2, A, e, { tokens: 1000n, score: 100_000n }), H2, A)],
    ] as const;
    // Tokens over the cap are refused at the eth_call check, before any commit.
    const over = await signed(f, makeReceipt(f, H1, B, e, { tokens: TOKEN_CAP + 1n }), H1, B);
    await rejectsWith(
      f.as(H1).ledger.getFunction('checkClaim')(e, receiptTuple(over.r), over.nodeSig, over.leaderSig),
      'LedgerTokensOverCap',
    );
    for (const [i, s] of claims) await commitClaim(f, i, s);
    const w = await windowsOf(f, e);
    await timeTo(f, w.reveal);
    for (const [i, s] of claims) await revealClaim(f, i, s);
    await timeTo(f, w.settle);
    await send(f.c.ledger, 'settle', e, 10);
    const cap = (f.p.epochPool * BigInt(SHARE_BPS)) / 10_000n;
    assert.equal(await owed(A), cap, 'A is held to its share');
    assert.equal(await owed(B), cap, 'B is held to its share');
    assert.ok((await owed(A)) + (await owed(B)) <= (f.p.epochPool * 2n * BigInt(SHARE_BPS)) / 10_000n);
    const info = await f.c.ledger.getFunction('epochInfo')(e);
    assert.equal(await f.c.token.getFunction('totalSupply')(), info.paid, 'what the caps held back was never minted');
    assert.ok((info.paid as bigint) < f.p.epochPool);
  });

  it('refuses, at the eth_call check, a receipt from a leader nobody bonded and one signed by the node itself', async () => {
    await register(f, 1, 1);
    const e = await nextEpoch(f);
    const check = f.as(1).ledger.getFunction('checkClaim');
    const bogus = await signed(f, makeReceipt(f, 1, 6, e), 1, 6); // 6 never registered
    await rejectsWith(check(e, receiptTuple(bogus.r), bogus.nodeSig, bogus.leaderSig), 'LedgerLeaderNotRegistered');
    const self = await signed(f, makeReceipt(f, 1, 1, e), 1, 1);
    await rejectsWith(check(e, receiptTuple(self.r), self.nodeSig, self.leaderSig), 'LedgerLeaderNotRegistered');
    await register(f, 6, 1);
    assert.ok(((await check(e, receiptTuple(bogus.r), bogus.nodeSig, bogus.leaderSig)) as bigint) > 0n, 'the weight once the leader bonds');
    // No commit was needed to learn any of it: nothing is left on chain to be reported as a no-show.
    assert.equal((await f.c.ledger.getFunction('claimOf')(e, addr(1))).status, 0n);
  });
});
