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
 */
export function classifyTier(input: TierInput, cfg: RewardConfig): TierDecision {
  const t = cfg.thresholds;
  const reasons: string[] = [];
  const { hardware: hw, ssd } = input;
  const ssdPass = ssd !== null && ssd.readMBps >= t.ssdMinReadMBps && ssd.writeMBps >= t.ssdMinWriteMBps;
  const decide = (tier: Tier): TierDecision => ({ tier, multiplier: cfg.tiers[tier].multiplier, allowedRoles: [...cfg.tiers[tier].roles], ssdPass, reasons });

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
  if (hw.diskFreeGiB >= t.storageMinFreeGiB) {
    reasons.push(`${hw.diskFreeGiB} GiB free disk for shards`);
    return decide('storage_node');
  }
  reasons.push(`less than ${t.storageMinFreeGiB} GiB free disk`);
  return decide('mobile_light');
}

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
