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
  quorum: number;
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

const seconds = (x: unknown, key: string): bigint => {
  if (typeof x !== 'number' || !Number.isInteger(x) || x <= 0)
    throw new ConfigError(`reward config ${key} = ${JSON.stringify(x)}; allowed: a whole number of seconds > 0`, { key });
  return BigInt(x);
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
  return {
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
    quorum: Number(seconds(c.quorum, 'chain.quorum')),
    slashRateBps: OFFENCES.map((o) => bps(rates[o] as number, `chain.slashRates.${o}`, 0.1, 1)),
  };
}
