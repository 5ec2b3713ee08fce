import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { computeEpochRewards, effectiveMultiplierBps } from '../../daemon/src/chain/calculator.js';
import { startAnvil, type Anvil } from './helpers/anvil.js';
import {
  commitClaim,
  deployFixture,
  makeReceipt,
  nextEpoch,
  register,
  revealClaim,
  send,
  signed,
  timeTo,
  windowsOf,
  type Fixture,
} from './helpers/fixture.js';

/** The daemon's off-chain calculator equals on-chain settlement to the wei, on random epochs (incl. zero scores and the cap). */
describe('off-chain calculator vs on-chain settlement', () => {
  let anvil: Anvil;
  let f: Fixture;
  const NODES = [1, 2, 3, 4, 5, 6, 7, 8];
  const LEADER = 9;
  before(async () => {
    anvil = await startAnvil();
    f = await deployFixture(anvil);
    for (const i of [...NODES, LEADER]) await register(f, i, i % 5);
  });
  after(async () => anvil?.stop());

  it('credits exactly what computeEpochRewards predicts', { timeout: 10 * 60_000 }, async () => {
    let epochsChecked = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom(...NODES), { minLength: 1, maxLength: NODES.length }),
        fc.array(
          fc.record({
            tokens: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
            score: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1_000_000n })),
          }),
          { minLength: 8, maxLength: 8 },
        ),
        fc.integer({ min: 1, max: 8 }),
        async (nodes, values, batch) => {
          const e = await nextEpoch(f);
          const claims = [];
          for (const [k, i] of nodes.entries()) claims.push(await signed(f, makeReceipt(f, i, LEADER, e, values[k]!), i, LEADER));
          for (const [k, i] of nodes.entries()) await commitClaim(f, i, claims[k]!);
          const w = await windowsOf(f, e);
          await timeTo(f, w.reveal);
          for (const [k, i] of nodes.entries()) await revealClaim(f, i, claims[k]!);
          await timeTo(f, w.settle);
          const day = w.commit / 86_400n;
          const emittedOnDay = (await f.c.ledger.getFunction('emittedOnDay')(day)) as bigint;
          const owedBefore = await Promise.all(nodes.map((i) => f.c.ledger.getFunction('owed')(f.wallets[i]!.address) as Promise<bigint>));
          for (let done = false; !done;) {
            await send(f.c.ledger, 'settle', e, batch);
            done = (await f.c.ledger.getFunction('epochInfo')(e)).settled as boolean;
          }
          const expected = computeEpochRewards({
            epochPool: f.p.epochPool,
            dailyCap: f.p.dailyCap,
            emittedOnDay,
            maxRewardShareBps: f.p.maxRewardShareBps,
            claims: nodes.map((i, k) => ({
              node: String(i),
              tierMultiplierBps: effectiveMultiplierBps(f.p.tierMultiplierBps[i % 5]!, f.p.minNodeBond, f.p.minNodeBond),
              tokens: values[k]!.tokens,
              score: values[k]!.score,
            })),
          });
          for (const [k, i] of nodes.entries()) {
            const owed = (await f.c.ledger.getFunction('owed')(f.wallets[i]!.address)) as bigint;
            assert.equal(owed - owedBefore[k]!, expected.rewards[k], `node ${i} in epoch ${e}`);
          }
          const info = await f.c.ledger.getFunction('epochInfo')(e);
          assert.equal(info.pool, expected.pool);
          assert.equal(info.paid, expected.paid);
          assert.equal(await f.c.ledger.getFunction('emittedOnDay')(day), emittedOnDay + expected.paid);
          epochsChecked++;
        },
      ),
      { numRuns: 15, endOnFailure: true },
    );
    assert.equal(epochsChecked, 15);
  });
});
