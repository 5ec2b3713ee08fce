import type { StateDb } from '../../db/database.js';
import { OutcomeRepository } from '../../diloco/outcome-repo.js';
import type { RetentionSource } from '../../storage/maintenance.js';

/**
 * What storage GC must keep for the rounds: the round window and the latest checkpoint, read from the rounds'
 * records in SQLite, which the diloco part writes. Storage is made before diloco, so it reads the records, not
 * the part.
 */
export function roundRetention(db: StateDb): RetentionSource {
  const outcomes = new OutcomeRepository(db);
  return {
    currentRound: () => outcomes.currentRound(),
    latest: () => outcomes.latest()?.manifestId ?? undefined,
    claimed: () => [],
    settledRound: () => outcomes.latest()?.round ?? -1,
  };
}
