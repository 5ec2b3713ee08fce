/**
 * What the adversary tool can do (daemon/src/adversary: a real node, or a real client, with the honest checks
 * bypassed). `magnet-node testnet --adversary KIND` runs one testnet node this way; test/adversary runs `mixed`.
 */
export const ADVERSARY_KINDS = {
  'silent-leader': 'heartbeats like any member but never announces the rounds it should lead',
  'far-deadline': 'announces its rounds with a deadline in the year 3000, then never proposes an outcome',
  equivocate: 'as leader, sends its real proposal to half the members and a forged merge to the others',
  poison: 'submits gradients that raise the loss while staying inside the norm bounds',
  tokens: 'claims 2^53-1 tokens for its gradients',
  'withhold-shards': 'accepts storage shards but never serves them back',
  'forge-lineage': 'claims to be far ahead and answers catch-up requests with forged certified outcomes',
  probes: 'sends malformed and unauthorized round messages, as a member and with throwaway keys',
  'hello-flood': 'says Hello from 300 throwaway identities',
  mixed:
    'all of them: probes, hello-flood, withheld shards and forged lineage throughout; poison and tokens as a follower; as leader silent first, then equivocating under a year-3000 deadline',
} as const;

export type AdversaryKind = keyof typeof ADVERSARY_KINDS;

export function isAdversaryKind(k: string): k is AdversaryKind {
  return Object.hasOwn(ADVERSARY_KINDS, k);
}

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
