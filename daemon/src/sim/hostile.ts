import type { RoundAnnouncement } from '../diloco/messages.js';
import type { RoundNetwork, RoundSigner } from '../diloco/ports.js';
import type { RoundMessageKind, RoundRefusal } from '../diloco/refusals.js';
import { voteDigest, proposalDigest } from '../diloco/statements.js';

/**
 * What a hostile simulated node does, and how honest nodes must answer it. A hostile node is a member running the
 * real coordinator whose outgoing round messages are altered here (the spirit of daemon/src/adversary, whose
 * `poison`, `tokens` and `silent-leader` kinds these repeat, without its gRPC plumbing). `refusal` is the refusal an
 * honest node must log for it (message kind and reason); `withhold` and `silent-leader` are answered by the round
 * going on without them (the stragglers' grace, failover) rather than by a refusal.
 */
export const HOSTILE_KINDS = {
  'false-announce': {
    what: 'announces the round it is at, as its leader, to every trainer, every 20 s, without leading it',
    refusal: { message: 'announcement', reason: 'not_expected_leader' },
  },
  poison: { what: 'trains gradients that make the held-out loss worse', refusal: { message: 'gradient', reason: 'spot_check' } },
  oversized: { what: 'announces its gradient as 1000 times its size', refusal: { message: 'gradient', reason: 'too_large' } },
  tokens: { what: 'claims 2^53-1 tokens for its gradients', refusal: { message: 'gradient', reason: 'tokens_mismatch' } },
  'forged-vote': {
    what: "adds a vote in another member's name, signed with its own key, to every vote it sends",
    refusal: { message: 'vote', reason: 'bad_signature' },
  },
  withhold: { what: 'accepts the rounds, then never sends its gradient', refusal: undefined },
  'silent-leader': { what: 'never announces the rounds it should lead', refusal: undefined },
} as const satisfies Record<string, { what: string; refusal: { message: RoundMessageKind; reason: RoundRefusal } | undefined }>;

export type HostileKind = keyof typeof HOSTILE_KINDS;

export const HOSTILE_ORDER = Object.keys(HOSTILE_KINDS) as HostileKind[];

/** What a hostile node did that honest nodes accepted when they should not have (must stay 0). */
export interface HostileTally {
  /** Announcements of rounds it does not lead that a peer accepted. */
  falseAnnouncementsAccepted: number;
  sent: number;
}

/**
 * The network of a hostile node: its coordinator's messages, altered as `kind` says. `others` names members a forged
 * vote can claim to be from; `latest` gives the node's round and base (for its own false announcements).
 */
export function hostileNetwork(
  kind: HostileKind,
  inner: RoundNetwork,
  d: { me: string; signer: RoundSigner; others: () => string[] },
): RoundNetwork {
  switch (kind) {
    case 'oversized':
      return { ...inner, gradientReady: (to, g) => inner.gradientReady(to, { ...g, size: g.size * 1000 }) };
    case 'tokens':
      return { ...inner, gradientReady: (to, g) => inner.gradientReady(to, { ...g, tokens: Number.MAX_SAFE_INTEGER }) };
    case 'withhold':
      return { ...inner, pushBlob: async () => undefined, gradientReady: async () => ({ accepted: true, reason: '' }) };
    case 'silent-leader':
      return {
        ...inner,
        announce: async () => {
          throw new Error('unreachable: (silent leader: nothing was sent)');
        },
      };
    case 'forged-vote':
      return {
        ...inner,
        submitVotes: (to, p, votes) => {
          const victim = d.others().find((id) => id !== to && id !== d.me);
          if (!victim || !votes.some((v) => v.voter === d.me)) return inner.submitVotes(to, p, votes);
          const forged = { voter: victim, signature: d.signer.sign(voteDigest(proposalDigest(p))) };
          return inner.submitVotes(to, p, [...votes, forged]);
        },
      };
    default:
      return inner;
  }
}

/** A false announcement: the round `me` is at, on its own latest, naming itself the leader. */
export async function announceFalsely(
  net: RoundNetwork,
  a: RoundAnnouncement,
  to: readonly string[],
  tally: HostileTally,
  /** Who leads round `a.round` in `to`'s own view now (after its failovers): accepting the real leader is right. */
  leaderFor: (to: string) => string | undefined,
): Promise<void> {
  await Promise.all(
    to.map(async (id) => {
      tally.sent++;
      const ack = await net.announce(id, a).catch(() => undefined);
      if (ack?.accepted && leaderFor(id) !== a.leader) tally.falseAnnouncementsAccepted++;
    }),
  );
}
