import { profileMigrations } from '../profile/profile-repo.js';
import { dilocoMigrations } from '../diloco/round-repo.js';
import { lossHistoryMigrations } from '../diloco/loss-history.js';
import { storageMigrations } from '../storage/storage-repo.js';
import { netMigrations } from '../net/peer-book.js';
import { chainMigrations } from '../chain/claim-store.js';
import type { Migration } from '../db/migrations.js';
import { metaMigrations } from '../db/repos/meta-repo.js';
import { researchMigrations } from '../research/research-repo.js';

/** Every part's migrations. Each part appends to its own list; add a part's list here once. */
export const allMigrations: readonly Migration[] = [
  ...metaMigrations,
  ...profileMigrations,
  ...netMigrations,
  ...dilocoMigrations,
  ...lossHistoryMigrations,
  ...storageMigrations,
  ...chainMigrations,
  ...researchMigrations,
];
