import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parseEther, type TransactionReceipt } from 'ethers';
import { buildRoundTree, settlementLeafHash } from '../../daemon/src/chain/round-tree.js';
import { increaseTime, revert, snapshot, startAnvil, type Anvil } from './helpers/anvil.js';
import {
  deployFixture,
  drawPanel,
  joinNotary,
  nextEpoch,
  openChallenge,
  register,
  rejectsWith,
  send,
  settlementBasis,
  timeTo,
  windowsOf,
  type Fixture,
} from './helpers/fixture.js';

const SETTLEMENT = 4; // INotaryPanel.Kind.Settlement
const SETTLER = 3;
const NOTARIES = [10, 11, 12, 13, 14, 15];

/** Merkle settlement against a real anvil: one cumulative (node, amount) root per epoch, withdrawals by proof. */
describe('ContributionLedger Merkle settlement', () => {
  let anvil: Anvil;
  let f: Fixture;
  let snap: string;
  before(async () => {
    anvil = await startAnvil();
    f = await deployFixture(anvil, {}, { governance: 'deployer' });
    for (const i of [1, 2, SETTLER]) await register(f, i, 1);
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
  const tokenOf = async (i: number) => (await f.c.token.getFunction('balanceOf')(addr(i))) as bigint;
  /** A cumulative root over `credits` (wallet index -> cumulative amount), with each node's proof. */
  const rootOf = (credits: Map<number, bigint>) => {
    const hashes = new Map([...credits].map(([i, a]) => [i, settlementLeafHash(addr(i), a, f.chainId, f.deployment.addresses.ledger)]));
    const tree = buildRoundTree([...hashes.values()]);
    return { root: tree.root, proof: (i: number) => tree.proof(hashes.get(i)!) };
  };
  /** Moves past the challenge window of a fresh epoch and returns it. */
  const settledEpoch = async () => {
    const e = await nextEpoch(f);
    await timeTo(f, (await windowsOf(f, e)).settle);
    return e;
  };
  const gas = async (p: Promise<{ wait(): Promise<TransactionReceipt | null> }>) => (await (await p).wait())!.gasUsed;

  it('posts, waits out the challenge period, finalizes, and pays each node the growth of its cumulative credit by proof', async () => {
    const e1 = await settledEpoch();
    const pool = f.p.epochPool;
    const one = rootOf(
      new Map([
        [1, pool / 4n],
        [2, pool / 2n],
      ]),
    );
    await rejectsWith(
      ledgerAs(SETTLER).getFunction('postSettlement')(e1, one.root, pool + 1n, ...(await settlementBasis(f, e1))),
      'LedgerSettlementOverPool',
    );
    const basis = await settlementBasis(f, e1);
    assert.deepEqual(basis, [pool, pool]); // a fresh day, a whole pool per node (testParams)
    await rejectsWith(ledgerAs(7).getFunction('postSettlement')(e1, one.root, (3n * pool) / 4n, ...basis), 'LedgerNodeNotActive');
    // The basis a posting states is the one the ledger holds now: every node recomputes the leaves from it.
    await rejectsWith(
      ledgerAs(SETTLER).getFunction('postSettlement')(e1, one.root, (3n * pool) / 4n, pool - 1n, pool),
      'LedgerSettlementBasis',
    );
    await rejectsWith(
      ledgerAs(SETTLER).getFunction('postSettlement')(e1, one.root, (3n * pool) / 4n, pool, pool / 2n),
      'LedgerSettlementBasis',
    );
    const postGas = await gas(ledgerAs(SETTLER).getFunction('postSettlement')(e1, one.root, (3n * pool) / 4n, ...basis));
    await rejectsWith(
      ledgerAs(1).getFunction('postSettlement')(e1, one.root, 1n, ...(await settlementBasis(f, e1))),
      'LedgerSettlementExists',
    );
    await rejectsWith(f.c.ledger.getFunction('settle')(e1, 10), 'LedgerSettlementExists'); // the loop is closed
    await rejectsWith(f.c.ledger.getFunction('finalizeSettlement')(e1), 'LedgerSettlementWindowOpen');
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    const finalizeGas = await gas(f.c.ledger.getFunction('finalizeSettlement')(e1));
    await rejectsWith(f.c.ledger.getFunction('finalizeSettlement')(e1), 'LedgerNoSettlement');
    assert.equal(await f.c.ledger.getFunction('cumulativeCredited')(), (3n * pool) / 4n);
    const withdrawGas = await gas(ledgerAs(1).getFunction('withdrawCumulative')(pool / 4n, one.proof(1)));
    assert.equal(await tokenOf(1), pool / 4n);
    await rejectsWith(ledgerAs(1).getFunction('withdrawCumulative')(pool / 4n, one.proof(1)), 'LedgerNothingToWithdraw');
    await rejectsWith(ledgerAs(1).getFunction('withdrawCumulative')(pool, one.proof(1)), 'LedgerInvalidSettlementProof');
    await rejectsWith(ledgerAs(SETTLER).getFunction('withdrawCumulative')(pool / 2n, one.proof(2)), 'LedgerInvalidSettlementProof');

    // The next epoch's root carries everyone's total so far: node 1 takes the growth, node 2 everything at once.
    const e2 = await settledEpoch();
    const two = rootOf(
      new Map([
        [1, pool / 4n + pool / 10n],
        [2, pool / 2n + pool / 5n],
      ]),
    );
    await send(ledgerAs(SETTLER), 'postSettlement', e2, two.root, (3n * pool) / 10n, ...(await settlementBasis(f, e2)));
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await send(f.c.ledger, 'finalizeSettlement', e2);
    await send(ledgerAs(1), 'withdrawCumulative', pool / 4n + pool / 10n, two.proof(1));
    await send(ledgerAs(2), 'withdrawCumulative', pool / 2n + pool / 5n, two.proof(2));
    assert.equal(await tokenOf(1), pool / 4n + pool / 10n);
    assert.equal(await tokenOf(2), pool / 2n + pool / 5n);
    assert.equal(await f.c.token.getFunction('balanceOf')(f.deployment.addresses.ledger), 0n, 'minted exactly what was credited');
    assert.equal(await f.c.ledger.getFunction('totalOwed')(), 0n);
    process.stdout.write(`# gas: postSettlement ${postGas}, finalizeSettlement ${finalizeGas}, withdrawCumulative ${withdrawGas}\n`);
  });

  it('an upheld Settlement challenge voids the posting and slashes its settler; a posting overtaken by another epoch is stale', async () => {
    const e1 = await settledEpoch();
    const bad = rootOf(new Map([[SETTLER, f.p.epochPool]])); // the settler credits itself the whole pool
    await send(ledgerAs(SETTLER), 'postSettlement', e1, bad.root, f.p.epochPool, ...(await settlementBasis(f, e1)));
    const id = await openChallenge(f, NOTARIES[0]!, SETTLEMENT, SETTLER, e1);
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await rejectsWith(f.c.ledger.getFunction('finalizeSettlement')(e1), 'LedgerSettlementWindowOpen'); // held
    for (const i of await drawPanel(f, id)) {
      if ((await f.c.panel.getFunction('challengeOf')(id)).status !== 1n) break;
      await send(f.as(i).panel, 'vote', id, true);
    }
    await increaseTime(f.provider, Number(f.p.slashDelay));
    await send(f.as(7).panel, 'execute', id);
    assert.equal((await f.c.ledger.getFunction('settlementOf')(e1)).voided, true);
    assert.ok(((await f.c.registry.getFunction('nodeOf')(addr(SETTLER))).bond as bigint) < f.p.minNodeBond, 'the settler is slashed');
    await rejectsWith(f.c.ledger.getFunction('finalizeSettlement')(e1), 'LedgerNoSettlement');
    // Anyone may post again; two postings built on the same total: the first finalized makes the other stale.
    const e2 = await settledEpoch();
    const r1 = rootOf(new Map([[1, 100n]]));
    const r2 = rootOf(new Map([[2, 100n]]));
    await send(ledgerAs(1), 'postSettlement', e1, r1.root, 100n, ...(await settlementBasis(f, e1)));
    await send(ledgerAs(2), 'postSettlement', e2, r2.root, 100n, ...(await settlementBasis(f, e2)));
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await send(f.c.ledger, 'finalizeSettlement', e1);
    await rejectsWith(f.c.ledger.getFunction('finalizeSettlement')(e2), 'LedgerSettlementStale');
    const both = rootOf(
      new Map([
        [1, 100n],
        [2, 100n],
      ]),
    );
    await send(ledgerAs(2), 'postSettlement', e2, both.root, 100n, ...(await settlementBasis(f, e2))); // the stale one may be replaced
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await send(f.c.ledger, 'finalizeSettlement', e2);
    await send(ledgerAs(1), 'withdrawCumulative', 100n, both.proof(1));
    assert.equal(await tokenOf(1), 100n);
  });

  it('a posting over what its day has left no longer stands: the epoch may be settled or posted again', async () => {
    const e1 = await settledEpoch();
    const pool = f.p.epochPool;
    const full = rootOf(new Map([[1, pool]]));
    await send(ledgerAs(SETTLER), 'postSettlement', e1, full.root, pool, ...(await settlementBasis(f, e1)));
    await rejectsWith(f.c.ledger.getFunction('settle')(e1, 10), 'LedgerSettlementExists');
    // The epoch's pool falls under the posting's total (here the emission is lowered; another epoch of the day
    // settling by the loop does the same): it could never be finalized, so it must not hold the epoch either.
    await send(f.c.params, 'setEmission', pool / 2n, pool / 2n);
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await rejectsWith(f.c.ledger.getFunction('finalizeSettlement')(e1), 'LedgerSettlementOverPool');
    const half = rootOf(new Map([[1, pool / 2n]]));
    const basis = await settlementBasis(f, e1);
    assert.deepEqual(basis, [pool / 2n, pool / 2n]);
    await send(ledgerAs(2), 'postSettlement', e1, half.root, pool / 2n, ...basis);
    await increaseTime(f.provider, Number(f.p.challengeWindow));
    await send(f.c.ledger, 'finalizeSettlement', e1);
    await send(ledgerAs(1), 'withdrawCumulative', pool / 2n, half.proof(1));
    assert.equal(await tokenOf(1), pool / 2n);
  });
});
