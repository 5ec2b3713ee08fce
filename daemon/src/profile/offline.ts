import { existsSync } from 'node:fs';
import { openStateDb } from '../db/database.js';
import { metaMigrations } from '../db/repos/meta-repo.js';
import type { HardwareProfile } from './profile.js';
import { ProfileRepository, profileMigrations } from './profile-repo.js';
import type { RewardConfig } from './reward-config.js';
import { settleTier } from './saved-tier.js';
import { type TierDecision, classifyTier, savedChecks } from './tier.js';

/**
 * For `magnet-node profile` (the CLI never opens profile's table itself). `--save`: the measurement alone decides and
 * becomes the saved profile the next start compares with; the state database is made if missing.
 */
export function saveProfile(dbPath: string, profile: HardwareProfile, researchAgent: boolean, rewards: RewardConfig): TierDecision {
  const { db } = openStateDb(dbPath, [...metaMigrations, ...profileMigrations]);
  try {
    return settleTier(new ProfileRepository(db), profile, researchAgent, rewards, 'replace').decision;
  } finally {
    db.close();
  }
}

/** The tier a start would take with this measurement against the saved profile; undefined when nothing is saved. Saves nothing. */
export function tierAtStart(
  dbPath: string,
  profile: HardwareProfile,
  researchAgent: boolean,
  rewards: RewardConfig,
): TierDecision | undefined {
  if (!existsSync(dbPath)) return undefined;
  const { db } = openStateDb(dbPath, [...metaMigrations, ...profileMigrations]);
  try {
    const saved = new ProfileRepository(db).latest();
    return saved && classifyTier({ hardware: profile.hardware, ssd: profile.ssd, researchAgent }, rewards, savedChecks(saved, rewards));
  } finally {
    db.close();
  }
}
