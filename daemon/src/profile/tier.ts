import { MagnetError } from '../util/errors.js';
import type { HardwareInfo } from './hardware.js';
import type { RewardConfig, Role, Tier } from './reward-config.js';
import type { SsdResult } from './ssd-test.js';

export interface TierDecision {
  tier: Tier;
  multiplier: number;
  /** Every role the hardware allows for this tier. */
  allowedRoles: Role[];
  ssdPass: boolean;
  /** Why this tier, in words, for `profile` and logs. */
  reasons: string[];
  /** The result of each noisy check as decided (saved with the decision: the next start's hysteresis starts from it). */
  checks: TierChecks;
  /** The checks whose saved result held against this measurement (empty when the measurement alone decided), in words. */
  held: string[];
}

/**
 * The checks on measurements that vary from one run to the next (the SSD test, free disk). The hardware facts (cores,
 * RAM, GPU memory) do not drift between starts and a change there is a real change, so they switch at once.
 * An SSD check is absent when the test was skipped: a skipped test fails the tier but leaves the saved result as it was.
 */
export interface TierChecks {
  ssdRead?: boolean;
  ssdWrite?: boolean;
  diskFree: boolean;
}

export interface TierInput {
  hardware: HardwareInfo;
  ssd: SsdResult | null;
  /** The operator declares that this node runs research orchestration (claude_session tier). */
  researchAgent: boolean;
}

/**
 * Classifies a profile into a tier (paper sections 10.2 and 11.2). Storage tiers need an SSD; a node that fails
 * the SSD test (or skipped it) is demoted to mobile_light whatever else it has.
 *
 * With `saved` (the checks of the profile saved at the last start), a noisy check keeps its saved result unless the
 * measurement is beyond its threshold by `thresholds.hysteresis` (a fraction, 0.15) in the direction that changes it:
 * a saved pass fails only below floor x (1 - h), a saved failure passes only at floor x (1 + h) or more. So a disk that
 * reads on either side of its floor from one start to the next keeps one tier.
 */
export function classifyTier(input: TierInput, cfg: RewardConfig, saved?: TierChecks): TierDecision {
  const t = cfg.thresholds;
  const reasons: string[] = [];
  const held: string[] = [];
  const { hardware: hw, ssd } = input;
  const check = (what: string, value: number, floor: number, unit: string, was: boolean | undefined): boolean => {
    const r = withHysteresis(value, floor, was, t.hysteresis);
    if (r.held) {
      const pct = Math.round(t.hysteresis * 100);
      held.push(
        was
          ? `${what} ${value} ${unit} is under its ${floor} ${unit} floor by less than ${pct}% (under ${round(floor * (1 - t.hysteresis))} drops it): the saved pass holds`
          : `${what} ${value} ${unit} is over its ${floor} ${unit} floor by less than ${pct}% (${round(floor * (1 + t.hysteresis))} or more passes): the saved failure holds`,
      );
    }
    return r.pass;
  };
  const checks: TierChecks = {
    ...(ssd === null
      ? { ssdRead: saved?.ssdRead, ssdWrite: saved?.ssdWrite }
      : {
          ssdRead: check('SSD read', ssd.readMBps, t.ssdMinReadMBps, 'MB/s', saved?.ssdRead),
          ssdWrite: check('SSD write', ssd.writeMBps, t.ssdMinWriteMBps, 'MB/s', saved?.ssdWrite),
        }),
    diskFree: check('free disk', hw.diskFreeGiB, t.storageMinFreeGiB, 'GiB', saved?.diskFree),
  };
  const ssdPass = ssd !== null && checks.ssdRead === true && checks.ssdWrite === true;
  const decide = (tier: Tier): TierDecision => ({
    tier,
    multiplier: cfg.tiers[tier].multiplier,
    allowedRoles: [...cfg.tiers[tier].roles],
    ssdPass,
    reasons: [...reasons, ...held],
    checks,
    held,
  });

  if (!ssdPass) {
    reasons.push(
      ssd === null
        ? 'SSD test skipped: storage tiers need a passing SSD test'
        : `SSD test failed (read ${ssd.readMBps} MB/s, need >= ${t.ssdMinReadMBps}; write ${ssd.writeMBps} MB/s, need >= ${t.ssdMinWriteMBps})`,
    );
    return decide('mobile_light');
  }
  reasons.push(`SSD test passed (read ${ssd.readMBps} MB/s, write ${ssd.writeMBps} MB/s)`);
  const gpu = hw.gpus.find((g) => g.memoryGiB >= t.gpuMinMemoryGiB);
  if (gpu) {
    reasons.push(`GPU ${gpu.name} with ${gpu.memoryGiB} GiB >= ${t.gpuMinMemoryGiB} GiB`);
    if (input.researchAgent) {
      reasons.push('research orchestration declared by the operator');
      return decide('claude_session');
    }
    return decide('gpu_compute');
  }
  reasons.push(hw.gpus.length === 0 ? 'no GPU' : `no GPU with >= ${t.gpuMinMemoryGiB} GiB`);
  if (hw.cores >= t.cpuMinCores && hw.ramGiB >= t.cpuMinRamGiB) {
    reasons.push(`${hw.cores} cores and ${hw.ramGiB} GiB RAM can serve the ternary model`);
    return decide('cpu_only');
  }
  reasons.push(`below the CPU serving floor (${t.cpuMinCores} cores, ${t.cpuMinRamGiB} GiB RAM)`);
  if (checks.diskFree) {
    reasons.push(`${hw.diskFreeGiB} GiB free disk for shards`);
    return decide('storage_node');
  }
  reasons.push(`less than ${t.storageMinFreeGiB} GiB free disk`);
  return decide('mobile_light');
}

/** One check against `floor` with hysteresis around it; `was` is the saved result (undefined: none, the measurement decides). */
export function withHysteresis(value: number, floor: number, was: boolean | undefined, margin: number): { pass: boolean; held: boolean } {
  const plain = value >= floor;
  if (was === undefined || was === plain) return { pass: plain, held: false };
  const clear = was ? value < floor * (1 - margin) : value >= floor * (1 + margin);
  return clear ? { pass: plain, held: false } : { pass: was, held: true };
}

/**
 * The checks of a saved profile, for the next classification. A profile saved before checks were recorded has them
 * recomputed from its measurements against today's thresholds.
 */
export function savedChecks(
  saved: { profile: Omit<TierInput, 'researchAgent'>; decision: Partial<TierDecision> },
  cfg: RewardConfig,
): TierChecks {
  return saved.decision.checks ?? classifyTier({ ...saved.profile, researchAgent: false }, cfg).checks;
}

const round = (x: number): number => Math.round(x * 100) / 100;

export type RoleChoice = 'auto' | Role;

/**
 * `--role` narrows what the hardware allows but never raises it. `cpuTraining` lets CPU tiers train small models
 * (local testnets on machines without a GPU).
 */
export function resolveRoles(decision: TierDecision, choice: RoleChoice, cpuTraining: boolean): Role[] {
  const allowed = [...decision.allowedRoles];
  if (cpuTraining && !allowed.includes('trainer') && decision.tier !== 'mobile_light') allowed.unshift('trainer');
  if (choice === 'auto') return allowed;
  if (!allowed.includes(choice)) {
    throw new MagnetError(
      'ERR_ROLE_NOT_ALLOWED',
      `--role ${choice} is not allowed on this machine: its tier is ${decision.tier}, which allows ${allowed.join(', ') || 'nothing'} (${decision.reasons.join('; ')})`,
      { role: choice, tier: decision.tier },
    );
  }
  return [choice];
}
