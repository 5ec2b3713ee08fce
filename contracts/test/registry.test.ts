import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Wallet } from 'ethers';
import { increaseTime, revert, snapshot, startAnvil, type Anvil } from './helpers/anvil.js';
import { deployFixture, keyAndNodeId, register, rejectsWith, send, type Fixture } from './helpers/fixture.js';
import { nodeIdFromPublicKey } from '../../daemon/src/identity/node-id.js';

describe('NodeRegistry', () => {
  let anvil: Anvil;
  let f: Fixture;
  let snap: string;
  before(async () => {
    anvil = await startAnvil();
    // The deployer keeps every role here, to drive the registry's slashing hooks and the setters directly;
    // economics.test.ts checks the default deployment, where a timelock governs and nobody can grant roles.
    f = await deployFixture(anvil, {}, { governance: 'deployer' });
    snap = await snapshot(f.provider);
  });
  after(async () => anvil?.stop());
  beforeEach(async () => {
    await revert(f.provider, snap);
    snap = await snapshot(f.provider);
  });

  it('registers a node whose nodeId matches the daemon nodeId string', async () => {
    await register(f, 1, 2);
    const n = await f.c.registry.getFunction('nodeOf')(f.wallets[1]!.address);
    const daemonId = nodeIdFromPublicKey(f.wallets[1]!.signingKey.publicKey);
    assert.equal('node-' + (n.nodeId as string).slice(2), daemonId);
    assert.equal(n.tier, 2n);
    assert.equal(await f.c.registry.getFunction('isActive')(f.wallets[1]!.address), true);
    assert.equal(await f.c.registry.getFunction('totalBonded')(), f.p.minNodeBond);
  });

  it('refuses a key that is not the sender, a wrong nodeId, a short key, a bad tier, a low bond and a second registration', async () => {
    const other = keyAndNodeId(f.wallets[2]!);
    const mine = keyAndNodeId(f.wallets[1]!);
    const reg = f.as(1).registry.getFunction('register');
    await rejectsWith(reg(other.publicKey, other.nodeId, 1, { value: f.p.minNodeBond }), 'RegistryKeyNotSender');
    await rejectsWith(reg(mine.publicKey, other.nodeId, 1, { value: f.p.minNodeBond }), 'RegistryNodeIdMismatch');
    await rejectsWith(reg(mine.publicKey.slice(0, -2), mine.nodeId, 1, { value: f.p.minNodeBond }), 'RegistryInvalidPublicKey');
    await rejectsWith(reg(mine.publicKey, mine.nodeId, 5, { value: f.p.minNodeBond }), 'RegistryInvalidTier');
    await rejectsWith(reg(mine.publicKey, mine.nodeId, 1, { value: f.p.minNodeBond - 1n }), 'RegistryBondTooLow');
    await register(f, 1);
    await rejectsWith(reg(mine.publicKey, mine.nodeId, 1, { value: f.p.minNodeBond }), 'RegistryAlreadyRegistered');
  });

  it('checks nodeIds for keys with odd and even y (both compressed prefixes)', async () => {
    const parities = new Set<string>();
    for (let i = 1; i <= 8; i++) {
      const w = f.wallets[i]!;
      parities.add(w.signingKey.compressedPublicKey.slice(0, 4));
      const { publicKey, nodeId } = keyAndNodeId(w);
      assert.equal(await f.c.registry.getFunction('nodeIdOf')(publicKey), nodeId);
    }
    assert.deepEqual([...parities].sort(), ['0x02', '0x03']);
  });

  it('unbonds only after the delay, then pays the bond back once and deregisters', async () => {
    await register(f, 1);
    const r = f.as(1).registry;
    await rejectsWith(r.getFunction('withdrawBond')(), 'RegistryNotUnbonding');
    await send(r, 'requestUnbond');
    assert.equal(await r.getFunction('isActive')(f.wallets[1]!.address), false);
    await rejectsWith(r.getFunction('withdrawBond')(), 'RegistryUnbondingNotOver');
    await increaseTime(f.provider, f.p.unbondingDelay);
    const before = await f.provider.getBalance(f.wallets[1]!.address);
    await send(r, 'withdrawBond');
    const afterBal = await f.provider.getBalance(f.wallets[1]!.address);
    assert.ok(afterBal > before + f.p.minNodeBond - 10n ** 16n, 'bond returned (minus gas)');
    await rejectsWith(r.getFunction('withdrawBond')(), 'RegistryNotRegistered');
    assert.equal(await f.provider.getBalance(f.deployment.addresses.registry), 0n);
  });

  it('lets only the slasher role slash, never more than the bond, with every wei accounted for', async () => {
    await register(f, 1);
    await rejectsWith(
      f.as(2).registry.getFunction('slash')(f.wallets[1]!.address, 5000, f.wallets[2]!.address),
      'AccessControlUnauthorizedAccount',
    );
    await rejectsWith(f.as(2).registry.getFunction('lock')(f.wallets[1]!.address), 'AccessControlUnauthorizedAccount');
    // The deployer grants itself the role here to drive slash directly; production grants it only to panel and ledger.
    await send(f.c.registry, 'grantRole', await f.c.registry.getFunction('SLASHER_ROLE')(), f.wallets[0]!.address);
    await send(f.c.registry, 'slash', f.wallets[1]!.address, 3333, f.wallets[2]!.address);
    await send(f.c.registry, 'slash', f.wallets[1]!.address, 65535, Wallet.createRandom().address); // clamped to 100%
    const n = await f.c.registry.getFunction('nodeOf')(f.wallets[1]!.address);
    assert.equal(n.bond, 0n);
    const g = (k: string) => f.c.registry.getFunction(k)() as Promise<bigint>;
    const [slashed, burned, payouts, bonded] = await Promise.all([
      g('totalSlashed'),
      g('totalBurned'),
      g('totalPayouts'),
      g('totalBonded'),
    ]);
    assert.equal(slashed, f.p.minNodeBond);
    assert.equal(slashed, burned + payouts);
    assert.equal(await f.provider.getBalance(f.deployment.addresses.registry), bonded + payouts + burned);
    await send(f.as(2).registry, 'withdrawPayout');
    await rejectsWith(f.as(2).registry.getFunction('withdrawPayout')(), 'RegistryNothingToWithdraw');
  });

  it('keeps a locked bond until the challenge closes', async () => {
    await register(f, 1);
    await send(f.c.registry, 'grantRole', await f.c.registry.getFunction('SLASHER_ROLE')(), f.wallets[0]!.address);
    await send(f.c.registry, 'lock', f.wallets[1]!.address);
    await send(f.as(1).registry, 'requestUnbond');
    await increaseTime(f.provider, f.p.unbondingDelay);
    await rejectsWith(f.as(1).registry.getFunction('withdrawBond')(), 'RegistryBondLocked');
    await send(f.c.registry, 'unlock', f.wallets[1]!.address);
    await send(f.as(1).registry, 'withdrawBond');
  });

  it('lets only the governor change parameters, within bounds, with events', async () => {
    const p = f.as(3).params;
    await rejectsWith(p.getFunction('setPanelRules')(7, 7_000, 3), 'AccessControlUnauthorizedAccount');
    await rejectsWith(p.getFunction('setChallengeTerms')(1n, 500, 60), 'AccessControlUnauthorizedAccount');
    await rejectsWith(f.c.params.getFunction('setSlashRate')(0, 999), 'ParamsInvalidSlashRate');
    await rejectsWith(f.c.params.getFunction('setSlashRate')(0, 10_001), 'ParamsInvalidSlashRate');
    await rejectsWith(f.c.params.getFunction('setEmission')(2n, 1n), 'ParamsInvalidEmission');
    await rejectsWith(f.c.params.getFunction('setWindows')(600, 300, 600, 3600, 100), 'ParamsInvalidWindows');
    await rejectsWith(f.c.params.getFunction('setEpochLength')(7), 'ParamsInvalidEpochLength');
    // Panel rules: size 1..32, stake quorum above half and at most all, 1 <= minVotes <= size.
    for (const [size, q, min] of [
      [0, 6_666, 1],
      [33, 6_666, 2],
      [5, 5_000, 2],
      [5, 10_001, 2],
      [5, 6_666, 0],
      [5, 6_666, 6],
    ]) {
      await rejectsWith(f.c.params.getFunction('setPanelRules')(size, q, min), 'ParamsInvalidPanelRules');
    }
    // Challenge terms: a deposit above zero, a penalty of at most the whole deposit, a delay of at most 30 days.
    for (const [bond, penalty, delay] of [
      [0n, 1_000, 3600],
      [1n, 10_001, 3600],
      [1n, 1_000, 30 * 86_400 + 1],
    ]) {
      await rejectsWith(f.c.params.getFunction('setChallengeTerms')(bond, penalty, delay), 'ParamsInvalidChallengeTerms');
    }
    let rc = await (await f.c.params.getFunction('setPanelRules')(32, 10_000, 32)).wait();
    assert.equal(f.c.params.interface.parseLog(rc.logs[0])?.name, 'PanelRulesChanged');
    assert.deepEqual(await Promise.all(['panelSize', 'quorumBps', 'minVotes'].map((k) => f.c.params.getFunction(k)())), [
      32n,
      10_000n,
      32n,
    ]);
    rc = await (await f.c.params.getFunction('setChallengeTerms')(1n, 10_000, 30 * 86_400)).wait();
    assert.equal(f.c.params.interface.parseLog(rc.logs[0])?.name, 'ChallengeTermsChanged');
    assert.deepEqual(await Promise.all(['challengeBond', 'expiryPenaltyBps', 'slashDelay'].map((k) => f.c.params.getFunction(k)())), [
      1n,
      10_000n,
      2_592_000n,
    ]);
  });

  it('deploys with the panel rules and challenge terms of config/reward-config.json', async () => {
    const get = (k: string) => f.c.params.getFunction(k)() as Promise<bigint>;
    assert.equal(await get('panelSize'), BigInt(f.p.panelSize));
    assert.equal(await get('quorumBps'), BigInt(f.p.quorumBps));
    assert.equal(await get('minVotes'), BigInt(f.p.minVotes));
    assert.equal(await get('challengeBond'), f.p.challengeBond);
    assert.equal(await get('expiryPenaltyBps'), BigInt(f.p.expiryPenaltyBps));
    assert.equal(await get('slashDelay'), f.p.slashDelay);
    assert.deepEqual([f.p.panelSize, f.p.quorumBps, f.p.minVotes, f.p.expiryPenaltyBps], [5, 6_666, 2, 1_000]);
  });

  it('changes the epoch length from the next epoch without moving earlier epochs', async () => {
    const e0 = (await f.c.params.getFunction('currentEpoch')()) as bigint;
    const startNext = (await f.c.params.getFunction('epochStart')(e0 + 1n)) as bigint;
    await send(f.c.params, 'setEpochLength', 300);
    assert.equal(await f.c.params.getFunction('epochStart')(e0 + 1n), startNext);
    assert.equal(await f.c.params.getFunction('epochStart')(e0 + 3n), startNext + 600n);
    assert.equal(await f.c.params.getFunction('epochAt')(startNext + 599n), e0 + 2n);
    assert.equal(await f.c.params.getFunction('epochAt')(startNext - 1n), e0);
  });
});
