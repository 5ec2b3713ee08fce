import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  claimWeight,
  computeEpochRewards,
  creditsFromWeights,
  effectiveMultiplierBps,
  estimateReward,
  nodeCap,
  type CalcClaim,
} from './calculator.js';

const claimArb = fc.record({
  node: fc.string({ minLength: 1, maxLength: 4 }),
  tierMultiplierBps: fc.constantFrom(30_000, 10_000, 3_000, 1_000),
  tokens: fc.bigInt({ min: 0n, max: 2n ** 40n }),
  score: fc.bigInt({ min: 0n, max: 1_000_000n }),
  voided: fc.boolean(),
}) as fc.Arbitrary<CalcClaim>;
const amount = fc.bigInt({ min: 0n, max: 10n ** 27n });
const share = fc.oneof(fc.constant(10_000), fc.integer({ min: 100, max: 10_000 }));

describe('off-chain reward calculator', () => {
  it('never pays more than the pool, leaves less than one wei per claim, and respects the daily cap', () => {
    fc.assert(
      fc.property(
        fc.array(claimArb, { maxLength: 50 }),
        amount,
        amount,
        amount,
        share,
        (claims, epochPool, dailyCap, emittedOnDay, maxRewardShareBps) => {
          const r = computeEpochRewards({ epochPool, dailyCap, emittedOnDay, maxRewardShareBps, claims });
          assert.ok(r.pool <= epochPool);
          assert.ok(emittedOnDay + r.pool <= (dailyCap > emittedOnDay ? dailyCap : emittedOnDay));
          assert.ok(r.paid <= r.pool);
          assert.equal(r.unminted, r.pool - r.paid);
          for (const x of r.rewards) assert.ok(x <= nodeCap(r.pool, maxRewardShareBps), 'no claim over the per-node cap');
          if (r.totalWeight > 0n && maxRewardShareBps === 10_000)
            assert.ok(r.unminted < BigInt(claims.length), 'rounding dust under one wei per claim');
          claims.forEach((c, i) => {
            if (c.voided || c.tokens === 0n || c.score === 0n) assert.equal(r.rewards[i], 0n);
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('pays nothing when every weight is zero, and is monotone in weight', () => {
    const zero = computeEpochRewards({
      epochPool: 1000n,
      dailyCap: 5000n,
      emittedOnDay: 0n,
      maxRewardShareBps: 10_000,
      claims: [{ node: 'a', tierMultiplierBps: 10_000, tokens: 5n, score: 0n }],
    });
    assert.deepEqual([zero.pool, zero.paid, zero.rewards[0]], [0n, 0n, 0n]);
    fc.assert(
      fc.property(fc.array(claimArb, { minLength: 2, maxLength: 20 }), amount, share, (claims, pool, maxRewardShareBps) => {
        const r = computeEpochRewards({ epochPool: pool, dailyCap: pool, emittedOnDay: 0n, maxRewardShareBps, claims });
        const w = claims.map((c) => (c.voided ? 0n : BigInt(c.tierMultiplierBps) * c.tokens * c.score));
        for (let i = 0; i < claims.length; i++)
          for (let k = 0; k < claims.length; k++) if (w[i]! >= w[k]!) assert.ok(r.rewards[i]! >= r.rewards[k]!);
      }),
      { numRuns: 300 },
    );
  });

  it('estimates one claim exactly as the full calculation credits it', () => {
    fc.assert(
      fc.property(
        fc.array(claimArb, { minLength: 1, maxLength: 20 }),
        amount,
        amount,
        amount,
        share,
        (claims, epochPool, dailyCap, emittedOnDay, maxRewardShareBps) => {
          const full = computeEpochRewards({ epochPool, dailyCap, emittedOnDay, maxRewardShareBps, claims });
          const weight = claims[0]!.voided ? 0n : BigInt(claims[0]!.tierMultiplierBps) * claims[0]!.tokens * claims[0]!.score;
          assert.equal(
            estimateReward({ epochPool, dailyCap, emittedOnDay, maxRewardShareBps, weight, totalWeight: full.totalWeight }),
            full.rewards[0],
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('caps a declared multiplier by the bond behind it: k minimum bonds back at most k x', () => {
    const min = 10n ** 18n;
    assert.equal(effectiveMultiplierBps(30_000, min, min), 10_000, '3.0x declared on one minimum bond counts 1.0x');
    assert.equal(effectiveMultiplierBps(30_000, 3n * min, min), 30_000, 'three minimum bonds back 3.0x');
    assert.equal(effectiveMultiplierBps(1_000, min, min), 1_000, 'a lower tier keeps its own multiplier');
    assert.equal(effectiveMultiplierBps(30_000, (3n * min) / 2n, min), 15_000);
  });

  it('credits a Merkle settlement exactly as the claim loop pays the same weights, and leaves out nodes credited nothing', () => {
    fc.assert(
      fc.property(fc.array(claimArb, { maxLength: 30 }), amount, share, (claims, epochPool, maxRewardShareBps) => {
        // One claim per node, as the ledger holds them.
        const byNode = new Map(claims.map((c) => [c.node, c]));
        const unique = [...byNode.values()];
        const loop = computeEpochRewards({ epochPool, dailyCap: epochPool, emittedOnDay: 0n, maxRewardShareBps, claims: unique });
        const weights = new Map(unique.map((c) => [c.node, claimWeight(c)]));
        const merkle = creditsFromWeights(loop.pool, nodeCap(loop.pool, maxRewardShareBps), weights);
        unique.forEach((c, i) => assert.equal(merkle.credits.get(c.node) ?? 0n, loop.rewards[i]));
        assert.equal(merkle.total, loop.paid);
        for (const credit of merkle.credits.values()) assert.ok(credit > 0n);
      }),
    );
    assert.equal(creditsFromWeights(100n, 100n, new Map([['a', 0n]])).credits.size, 0, 'no weight, no credit');
  });
});
