import type { HardwareProfile } from './profile.js';
import type { ProfileRepository } from './profile-repo.js';
import type { RewardConfig } from './reward-config.js';
import { type TierDecision, classifyTier, savedChecks } from './tier.js';

export interface SettledTier {
  /** The tier this node takes, saved as the newest profile. */
  decision: TierDecision;
  /** The tier the measurement alone gives (differs from `decision` when a saved check held). */
  alone: TierDecision;
}

/**
 * Classifies a fresh measurement and saves it with its decision. `keep` (every start): the saved profile's checks
 * hold unless the measurement clearly crosses a floor (see classifyTier). `replace` (`magnet-node profile --save`):
 * the measurement alone decides, and what is saved becomes the reference for the next starts.
 */
export function settleTier(
  repo: ProfileRepository,
  profile: HardwareProfile,
  researchAgent: boolean,
  cfg: RewardConfig,
  mode: 'keep' | 'replace',
): SettledTier {
  const input = { hardware: profile.hardware, ssd: profile.ssd, researchAgent };
  const alone = classifyTier(input, cfg);
  const saved = mode === 'keep' ? repo.latest() : undefined;
  const decision = saved ? classifyTier(input, cfg, savedChecks(saved, cfg)) : alone;
  repo.add(profile, decision);
  return { decision, alone };
}
