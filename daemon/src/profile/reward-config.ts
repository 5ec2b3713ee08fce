import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../util/errors.js';

export const TIERS = ['claude_session', 'gpu_compute', 'storage_node', 'cpu_only', 'mobile_light'] as const;
export type Tier = (typeof TIERS)[number];
export const ROLES = ['trainer', 'storage', 'server', 'light'] as const;
export type Role = (typeof ROLES)[number];

export interface Thresholds {
  ssdMinReadMBps: number;
  ssdMinWriteMBps: number;
  gpuMinMemoryGiB: number;
  cpuMinCores: number;
  cpuMinRamGiB: number;
  storageMinFreeGiB: number;
  /** Hysteresis around the SSD and free-disk floors, a fraction: a saved result changes only beyond floor x (1 ± this). */
  hysteresis: number;
}

export interface RewardConfig {
  tiers: Record<Tier, { multiplier: number; roles: Role[] }>;
  thresholds: Thresholds;
}

/** Environment variable for each threshold (documented in README.md). */
export const THRESHOLD_ENV: Record<keyof Thresholds, string> = {
  ssdMinReadMBps: 'MAGNET_SSD_MIN_READ_MBPS',
  ssdMinWriteMBps: 'MAGNET_SSD_MIN_WRITE_MBPS',
  gpuMinMemoryGiB: 'MAGNET_GPU_MIN_MEMORY_GIB',
  cpuMinCores: 'MAGNET_CPU_MIN_CORES',
  cpuMinRamGiB: 'MAGNET_CPU_MIN_RAM_GIB',
  storageMinFreeGiB: 'MAGNET_STORAGE_MIN_FREE_GIB',
  hysteresis: 'MAGNET_TIER_HYSTERESIS',
};

/** MAGNET_TIER_MULTIPLIER_GPU_COMPUTE and so on. */
export const multiplierEnv = (tier: Tier): string => `MAGNET_TIER_MULTIPLIER_${tier.toUpperCase()}`;

/** Reads config/reward-config.json and applies environment overrides; every number must be finite and >= 0. */
export function loadRewardConfig(file: string, env: NodeJS.ProcessEnv): RewardConfig {
  let raw: RewardConfig;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as RewardConfig;
  } catch (err) {
    throw new ConfigError(`cannot read the reward config ${file}: ${errorMessage(err)}`, { file });
  }
  const tiers = {} as RewardConfig['tiers'];
  for (const tier of TIERS) {
    const t = raw.tiers?.[tier];
    if (!t) throw new ConfigError(`reward config ${file}: tier "${tier}" is missing`, { key: `tiers.${tier}` });
    tiers[tier] = {
      multiplier: readNumber(t.multiplier, env[multiplierEnv(tier)], `tiers.${tier}.multiplier`, multiplierEnv(tier)),
      roles: t.roles,
    };
    for (const r of t.roles ?? []) {
      if (!(ROLES as readonly string[]).includes(r))
        throw new ConfigError(`reward config: tiers.${tier}.roles has "${r}"; allowed: ${ROLES.join(', ')}`);
    }
  }
  const thresholds = {} as Thresholds;
  for (const key of Object.keys(THRESHOLD_ENV) as (keyof Thresholds)[]) {
    thresholds[key] = readNumber(raw.thresholds?.[key], env[THRESHOLD_ENV[key]], `thresholds.${key}`, THRESHOLD_ENV[key]);
  }
  if (thresholds.hysteresis >= 1) {
    throw new ConfigError(`invalid value for thresholds.hysteresis: ${thresholds.hysteresis}; allowed: a fraction in [0, 1)`, {
      key: 'thresholds.hysteresis',
    });
  }
  return { tiers, thresholds };
}

function readNumber(fileValue: unknown, envValue: string | undefined, key: string, envName: string): number {
  const fromEnv = envValue !== undefined && envValue !== '';
  const v = fromEnv ? Number(envValue) : fileValue;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    const src = fromEnv ? `env ${envName}` : 'reward-config.json';
    throw new ConfigError(
      `invalid value for ${key} (from ${src}): ${JSON.stringify(fromEnv ? envValue : fileValue)}; allowed: a number >= 0`,
      { key },
    );
  }
  return v;
}
