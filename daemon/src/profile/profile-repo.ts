import type { StateDb } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import type { HardwareProfile } from './profile.js';
import type { TierDecision } from './tier.js';

export const profileMigrations: Migration[] = [
  {
    part: 'profile',
    version: 1,
    name: 'hardware profiles',
    up: `CREATE TABLE hardware_profiles (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      measured_at INTEGER NOT NULL,
      tier TEXT NOT NULL,
      profile_json TEXT NOT NULL,
      decision_json TEXT NOT NULL
    )`,
  },
];

export interface StoredProfile {
  profile: HardwareProfile;
  /** `checks` and `held` are missing from profiles saved before the tier had hysteresis. */
  decision: Omit<TierDecision, 'checks' | 'held'> & Partial<Pick<TierDecision, 'checks' | 'held'>>;
}

/**
 * Every profile measured at a start or by `magnet-node profile --save`, newest last; the history shows a degrading
 * disk, and the newest one's checks are where the next start's hysteresis starts from.
 */
export class ProfileRepository {
  constructor(private readonly db: StateDb) {}

  add(profile: HardwareProfile, decision: TierDecision): void {
    this.db
      .prepare('INSERT INTO hardware_profiles (measured_at, tier, profile_json, decision_json) VALUES (?, ?, ?, ?)')
      .run(profile.measuredAt, decision.tier, JSON.stringify(profile), JSON.stringify(decision));
  }

  latest(): StoredProfile | undefined {
    const row = this.db.prepare('SELECT profile_json, decision_json FROM hardware_profiles ORDER BY id DESC LIMIT 1').get() as
      { profile_json: string; decision_json: string } | undefined;
    return (
      row && {
        profile: JSON.parse(row.profile_json) as HardwareProfile,
        decision: JSON.parse(row.decision_json) as StoredProfile['decision'],
      }
    );
  }
}
