/**
 * Off-chain reward calculator: the same integer arithmetic as ContributionLedger.settle, so an estimate shown
 * by `magnet-node rewards` equals what settlement credits, to the wei.
 */
export interface CalcClaim {
  node: string;
  tierMultiplierBps: number;
  tokens: bigint;
  score: bigint;
  /** Voided by an upheld challenge: no weight, no reward. */
  voided?: boolean;
}

export interface CalcInput {
  epochPool: bigint;
  dailyCap: bigint;
  /** Already minted (or reserved) on the epoch's day before this epoch settles. */
  emittedOnDay: bigint;
  claims: readonly CalcClaim[];
}

export interface CalcResult {
  pool: bigint;
  totalWeight: bigint;
  rewards: bigint[];
  paid: bigint;
  /** pool - paid: rounding dust, never minted. */
  unminted: bigint;
}

export function claimWeight(c: CalcClaim): bigint {
  return c.voided ? 0n : BigInt(c.tierMultiplierBps) * c.tokens * c.score;
}

export function computeEpochRewards(input: CalcInput): CalcResult {
  const weights = input.claims.map(claimWeight);
  const totalWeight = weights.reduce((a, b) => a + b, 0n);
  if (totalWeight === 0n) return { pool: 0n, totalWeight, rewards: weights.map(() => 0n), paid: 0n, unminted: 0n };
  const room = input.dailyCap > input.emittedOnDay ? input.dailyCap - input.emittedOnDay : 0n;
  const pool = input.epochPool < room ? input.epochPool : room;
  const rewards = weights.map((w) => (pool * w) / totalWeight); // floor, as Math.mulDiv rounds down
  const paid = rewards.reduce((a, b) => a + b, 0n);
  return { pool, totalWeight, rewards, paid, unminted: pool - paid };
}

/**
 * Estimate for one revealed claim before its epoch settles: the same floor(pool * w / sum w) with the pool as
 * settlement will fix it from the cap room left on the epoch's day now. It can only fall if more epochs of the
 * day settle first or the claim's epoch gains claims.
 */
export function estimateReward(i: {
  epochPool: bigint;
  dailyCap: bigint;
  emittedOnDay: bigint;
  weight: bigint;
  totalWeight: bigint;
}): bigint {
  if (i.totalWeight === 0n) return 0n;
  const room = i.dailyCap > i.emittedOnDay ? i.dailyCap - i.emittedOnDay : 0n;
  const pool = i.epochPool < room ? i.epochPool : room;
  return (pool * i.weight) / i.totalWeight;
}
