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
  /** The most one claim may be credited, as basis points of the pool (Params.maxRewardShareBps). */
  maxRewardShareBps: number;
  claims: readonly CalcClaim[];
}

export interface CalcResult {
  pool: bigint;
  totalWeight: bigint;
  rewards: bigint[];
  paid: bigint;
  /** pool - paid: rounding dust and what the per-node cap held back, never minted. */
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
  const cap = nodeCap(pool, input.maxRewardShareBps);
  const rewards = weights.map((w) => min((pool * w) / totalWeight, cap)); // floor, as Math.mulDiv rounds down
  const paid = rewards.reduce((a, b) => a + b, 0n);
  return { pool, totalWeight, rewards, paid, unminted: pool - paid };
}

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/**
 * NodeRegistry.rewardMultiplierBps: the declared tier's multiplier capped by the bond, k minimum bonds backing at
 * most k x (`minBond` is the node's own minimum: the lower of today's and the one it registered under).
 */
export function effectiveMultiplierBps(declaredBps: number, bond: bigint, minBond: bigint): number {
  return Number(min(BigInt(declaredBps), (bond * 10_000n) / minBond));
}

/** The most one claim may be credited from `pool`: floor(pool * shareBps / 10_000), as settle fixes it. */
export function nodeCap(pool: bigint, shareBps: number): bigint {
  return (pool * BigInt(shareBps)) / 10_000n;
}

/**
 * Estimate for one revealed claim before its epoch settles: the same floor(pool * w / sum w) with the pool as
 * settlement will fix it from the cap room left on the epoch's day now, capped per node. It can only fall if more epochs of the
 * day settle first or the claim's epoch gains claims.
 */
export function estimateReward(i: {
  epochPool: bigint;
  dailyCap: bigint;
  emittedOnDay: bigint;
  maxRewardShareBps: number;
  weight: bigint;
  totalWeight: bigint;
}): bigint {
  if (i.totalWeight === 0n) return 0n;
  const room = i.dailyCap > i.emittedOnDay ? i.dailyCap - i.emittedOnDay : 0n;
  const pool = i.epochPool < room ? i.epochPool : room;
  return min((pool * i.weight) / i.totalWeight, nodeCap(pool, i.maxRewardShareBps));
}

/**
 * One epoch's credits from its claims' weights on chain, as settle or a Merkle settlement pays them:
 * floor(pool * w / sum w) per node, at most `nodeCap`; nodes credited nothing are left out.
 */
export function creditsFromWeights(
  pool: bigint,
  cap: bigint,
  weights: ReadonlyMap<string, bigint>,
): { credits: Map<string, bigint>; total: bigint } {
  let sum = 0n;
  for (const w of weights.values()) sum += w;
  const credits = new Map<string, bigint>();
  let total = 0n;
  if (sum === 0n) return { credits, total };
  for (const [node, w] of weights) {
    const r = min((pool * w) / sum, cap);
    if (r === 0n) continue;
    credits.set(node, r);
    total += r;
  }
  return { credits, total };
}
