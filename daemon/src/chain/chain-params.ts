import { readFileSync } from 'node:fs';
import { parseEther } from 'ethers';
import { ConfigError, errorMessage } from '../util/errors.js';
import { TIERS, type Tier } from '../profile/reward-config.js';

/** The on-chain parameter set, in contract units (seconds, wei, basis points). */
export interface ChainParams {
  tierMultiplierBps: number[];
  epochLength: bigint;
  commitWindow: bigint;
  revealWindow: bigint;
  challengeWindow: bigint;
  adjudicationTimeout: bigint;
  unbondingDelay: bigint;
  epochPool: bigint;
  dailyCap: bigint;
  maxSupply: bigint;
  minNodeBond: bigint;
  minNotaryBond: bigint;
  challengerShareBps: number;
  /** The most tokens one claim may carry (the network's tokens per gradient). */
  maxTokensPerClaim: bigint;
  /** The most one node may be credited in one epoch, as basis points of the epoch's pool. */
  maxRewardShareBps: number;
  /** Seconds between scheduling a parameter change in the timelock and its earliest execution. */
  timelockDelay: bigint;
  /** Notaries drawn per challenge (an appeal draws twice as many), 1..32. */
  panelSize: number;
  /** Share of the drawn panel's bond a side needs, in basis points, 5_001..10_000. */
  quorumBps: number;
  /** Votes a side needs besides the stake quorum, 1..panelSize. */
  minVotes: number;
  /** A challenger's deposit (wei); an appeal deposits twice this. */
  challengeBond: bigint;
  /** Share of a deposit burned when no ruling comes by the deadline, in basis points. */
  expiryPenaltyBps: number;
  /** Seconds an upheld heavy slash waits (the appeal window), at most 30 days. */
  slashDelay: bigint;
  /** Indexed like the contract's Offence enum: badClaim, badReveal, badRegistration, noReveal, frivolousChallenge. */
  slashRateBps: number[];
}

export const OFFENCES = ['badClaim', 'badReveal', 'badRegistration', 'noReveal', 'frivolousChallenge'] as const;

/** Tier index on chain: the order of TIERS (claude_session = 0 ... mobile_light = 4). */
export function tierIndex(tier: Tier): number {
  return TIERS.indexOf(tier);
}

const bps = (x: number, key: string, min: number, max: number): number => {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) {
    throw new ConfigError(`reward config ${key} = ${JSON.stringify(x)}; allowed: a number from ${min} to ${max}`, { key });
  }
  return Math.round(x * 10_000);
};

const wholeNumber = (x: unknown, key: string, unit: string): bigint => {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x <= 0)
    throw new ConfigError(`reward config ${key} = ${JSON.stringify(x)}; allowed: a whole number of ${unit} > 0`, { key });
  return BigInt(x);
};
const seconds = (x: unknown, key: string): bigint => wholeNumber(x, key, 'seconds');

const count = (x: unknown, key: string, min: number, max: number): number => {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max)
    throw new ConfigError(`reward config ${key} = ${JSON.stringify(x)}; allowed: a whole number from ${min} to ${max}`, { key });
  return x;
};

const amount = (x: unknown, key: string): bigint => {
  try {
    if (typeof x !== 'string') throw new Error('not a string');
    return parseEther(x);
  } catch (err) {
    throw new ConfigError(
      `reward config ${key} = ${JSON.stringify(x)}; allowed: a decimal string of whole tokens ("1000"): ${errorMessage(err)}`,
      { key },
    );
  }
};

/** Reads the tiers and the "chain" section of config/reward-config.json. */
export function loadChainParams(file: string): ChainParams {
  let raw: { tiers?: Record<string, { multiplier?: number }>; chain?: Record<string, unknown> };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read the reward config ${file}: ${errorMessage(err)}`, { file });
  }
  const c = raw.chain;
  if (!c || typeof c !== 'object') throw new ConfigError(`reward config ${file} has no "chain" section`, { file });
  const rates = (c.slashRates ?? {}) as Record<string, number>;
  const p: ChainParams = {
    tierMultiplierBps: TIERS.map((t) => bps(raw.tiers?.[t]?.multiplier as number, `tiers.${t}.multiplier`, 0.0001, 10)),
    epochLength: seconds(c.epochLengthSeconds, 'chain.epochLengthSeconds'),
    commitWindow: seconds(c.commitWindowSeconds, 'chain.commitWindowSeconds'),
    revealWindow: seconds(c.revealWindowSeconds, 'chain.revealWindowSeconds'),
    challengeWindow: seconds(c.challengeWindowSeconds, 'chain.challengeWindowSeconds'),
    adjudicationTimeout: seconds(c.adjudicationTimeoutSeconds, 'chain.adjudicationTimeoutSeconds'),
    unbondingDelay: seconds(c.unbondingDelaySeconds, 'chain.unbondingDelaySeconds'),
    epochPool: amount(c.epochPool, 'chain.epochPool'),
    dailyCap: amount(c.dailyCap, 'chain.dailyCap'),
    maxSupply: amount(c.maxSupply, 'chain.maxSupply'),
    minNodeBond: amount(c.minNodeBond, 'chain.minNodeBond'),
    minNotaryBond: amount(c.minNotaryBond, 'chain.minNotaryBond'),
    challengerShareBps: bps(c.challengerShare as number, 'chain.challengerShare', 0, 1),
    maxTokensPerClaim: wholeNumber(c.maxTokensPerClaim, 'chain.maxTokensPerClaim', 'tokens'),
    maxRewardShareBps: bps(c.maxRewardShare as number, 'chain.maxRewardShare', 0.01, 1),
    timelockDelay: seconds(c.timelockDelaySeconds, 'chain.timelockDelaySeconds'),
    panelSize: count(c.panelSize, 'chain.panelSize', 1, 32),
    quorumBps: bps(c.panelQuorum as number, 'chain.panelQuorum', 0.5001, 1),
    minVotes: count(c.minVotes, 'chain.minVotes', 1, 32),
    challengeBond: amount(c.challengeBond, 'chain.challengeBond'),
    expiryPenaltyBps: bps(c.expiryPenalty as number, 'chain.expiryPenalty', 0, 1),
    slashDelay: seconds(c.slashDelaySeconds, 'chain.slashDelaySeconds'),
    slashRateBps: OFFENCES.map((o) => bps(rates[o] as number, `chain.slashRates.${o}`, 0.1, 1)),
  };
  // Params refuses a vote minimum no panel can reach; say so with the key rather than as a revert at deploy.
  if (p.minVotes > p.panelSize) {
    throw new ConfigError(`reward config chain.minVotes = ${p.minVotes}; allowed: at most chain.panelSize (${p.panelSize})`, {
      key: 'chain.minVotes',
    });
  }
  if (p.challengeBond === 0n) {
    throw new ConfigError('reward config chain.challengeBond = "0"; allowed: a deposit above zero', { key: 'chain.challengeBond' });
  }
  if (p.slashDelay > 30n * 86_400n) {
    throw new ConfigError(`reward config chain.slashDelaySeconds = ${p.slashDelay}; allowed: at most 2592000 (30 days)`, {
      key: 'chain.slashDelaySeconds',
    });
  }
  return p;
}
