import type { StateDb } from '../../db/database.js';
import { OutcomeRepository } from '../../diloco/outcome-repo.js';
import { ResearchRepo } from '../../research/research-repo.js';
import type { RetentionSource } from '../../storage/maintenance.js';

/**
 * What storage GC must keep for the rounds: the round window and the latest checkpoint, read from the rounds'
 * records in SQLite, which the diloco part writes; and the research findings this node keeps (the knowledge base
 * other research nodes read). Storage is made before diloco and research, so it reads the records, not the parts.
 */
export function roundRetention(db: StateDb): RetentionSource {
  const outcomes = new OutcomeRepository(db);
  const research = new ResearchRepo(db);
  return {
    currentRound: () => outcomes.currentRound(),
    latest: () => outcomes.latest()?.manifestId ?? undefined,
    claimed: () => research.findingManifests(),
    settledRound: () => outcomes.latest()?.round ?? -1,
  };
}
