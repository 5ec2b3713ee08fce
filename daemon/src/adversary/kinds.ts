import type { AdversaryKind } from '../testnet/adversary-kinds.js';

export { ADVERSARY_KINDS, type AdversaryKind, isAdversaryKind, parseKinds } from '../testnet/adversary-kinds.js';

/** What the attacker does in a round it leads. */
export interface LeaderMove {
  /** Never announces (nor proposes). */
  silent: boolean;
  /** Announces a deadline in the year 3000. */
  farDeadline: boolean;
  /** Proposes its real merge to half the members and a forged one to the others. */
  equivocate: boolean;
  /** Never proposes an outcome. */
  stall: boolean;
}

export function leaderMove(kind: AdversaryKind, turn: number): LeaderMove {
  const m = { silent: false, farDeadline: false, equivocate: false, stall: false };
  if (kind === 'silent-leader' || (kind === 'mixed' && turn === 0)) return { ...m, silent: true };
  if (kind === 'far-deadline') return { ...m, farDeadline: true, stall: true };
  if (kind === 'equivocate') return { ...m, equivocate: true };
  if (kind === 'mixed') return { ...m, farDeadline: true, equivocate: true };
  return m;
}

/** Which follower-side attacks a kind makes. */
export function followerMoves(kind: AdversaryKind): { poison: boolean; tokens: boolean } {
  return { poison: kind === 'poison' || kind === 'mixed', tokens: kind === 'tokens' || kind === 'mixed' };
}
