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
  mixed: 'all of them: probes, hello-flood, withheld shards and forged lineage throughout; poison and tokens as a follower; as leader silent, then equivocating, then with a far deadline',
} as const;

export type AdversaryKind = keyof typeof ADVERSARY_KINDS;

export function isAdversaryKind(k: string): k is AdversaryKind {
  return Object.hasOwn(ADVERSARY_KINDS, k);
}

/** The leader behaviour of each leadership turn (mixed cycles through them). */
export type LeaderMove = 'honest' | 'silent' | 'equivocate' | 'far-deadline';

export function leaderMove(kind: AdversaryKind, turn: number): LeaderMove {
  if (kind === 'silent-leader') return 'silent';
  if (kind === 'far-deadline') return 'far-deadline';
  if (kind === 'equivocate') return 'equivocate';
  if (kind === 'mixed') return (['silent', 'equivocate', 'far-deadline'] as const)[turn % 3] as LeaderMove;
  return 'honest';
}

/** Which follower-side attacks a kind makes. */
export function followerMoves(kind: AdversaryKind): { poison: boolean; tokens: boolean } {
  return { poison: kind === 'poison' || kind === 'mixed', tokens: kind === 'tokens' || kind === 'mixed' };
}
