import { createHash, randomBytes } from 'node:crypto';
import type { RoundMessageHandlers } from '../node/wiring/round-network.js';
import type { Ack, Certificate } from '../diloco/messages.js';
import type { RoundSigner } from '../diloco/ports.js';
import { proposalDigest, voteDigest } from '../diloco/statements.js';
import type { BlobBackend } from '../net/blob-backend.js';

/**
 * A member that lies to nodes catching up: it claims to be 50 rounds ahead and, asked for the lineage, hands out
 * certified outcomes it made up (a merge of nothing into a checkpoint that does not exist, signed and voted by
 * itself alone). Every other round message goes to the honest coordinator.
 */
export function forgedLineageHandlers(h: RoundMessageHandlers, d: { me: string; signer: RoundSigner }): RoundMessageHandlers {
  const ahead = (a: Ack): Ack => ({ ...a, currentRound: (a.currentRound ?? 0) + 50 });
  return {
    onAnnouncement: (from, a) => h.onAnnouncement(from, a),
    onGradientReady: (from, g) => h.onGradientReady(from, g),
    onCheckRequest: (from, r) => h.onCheckRequest(from, r),
    onVotes: (from, p, v) => h.onVotes(from, p, v),
    onOutcome: (from, c) => h.onOutcome(from, c),
    onLatestRequest: (from, round) => ahead(h.onLatestRequest(from, round)),
    onLineageRequest: (from, afterRound, limit) => {
      const real = h.onLineageRequest(from, afterRound, limit);
      const first = real[0];
      if (!first) return real;
      const unsigned = {
        ...first.proposal,
        leader: d.me,
        sha256: createHash('sha256').update(`forged ${first.proposal.round}`).digest('hex'),
      };
      const proposal = { ...unsigned, signature: d.signer.sign(proposalDigest(unsigned)) };
      const forged: Certificate = { proposal, votes: [{ voter: d.me, signature: d.signer.sign(voteDigest(proposalDigest(proposal))) }] };
      return [forged, ...real.slice(1)];
    },
  };
}

/**
 * A trainer that tries to depose the leaders it follows: it accepts a round's announcement (it goes on to train and
 * submit), and answers every later announcement of that round by the same leader that it gave up on it. A leader
 * steps down only once two thirds of the other live trainers say so, so one such trainer must move nobody.
 */
export function deposingHandlers(h: RoundMessageHandlers, log: { warn: (o: object, msg: string) => void }): RoundMessageHandlers {
  const accepted = new Set<string>();
  return {
    ...h,
    onAnnouncement: (from, a) => {
      const key = `${a.round}:${from}`;
      if (accepted.has(key)) {
        log.warn({ round: a.round, leader: from }, 'deposing: told the leader we gave up on it');
        return { accepted: false, reason: `leader_failed: this node gave up on ${from} in round ${a.round}` };
      }
      const ack = h.onAnnouncement(from, a);
      if (ack.accepted) accepted.add(key);
      return ack;
    },
  };
}

/** A shard holder that takes every blob pushed to it and serves none but the public checkpoints. */
export function withholdingBackend(inner: BlobBackend): BlobBackend {
  return {
    stat: async (sha256) => (inner.isPublic?.(sha256) ? inner.stat(sha256) : undefined),
    read: (sha256, offset) => {
      if (!inner.isPublic?.(sha256)) throw new Error(`blob ${sha256} withheld`);
      return inner.read(sha256, offset);
    },
    admit: (u) => inner.admit(u),
    accept: (sha256, file, u) => inner.accept(sha256, file, u),
    touch: (sender, sha256) => inner.touch?.(sender, sha256),
    ...(inner.release ? { release: (sender: string, id: string) => inner.release!(sender, id) } : {}),
    isPublic: (sha256) => inner.isPublic?.(sha256) ?? false,
  };
}

/**
 * A shard holder that answers GetBlob with more than it announces: the true bytes, then up to 1 GiB of junk (public
 * checkpoints are served as they are). A reader must cut it off at the size it expects, with bounded memory.
 */
export function bloatingBackend(inner: BlobBackend): BlobBackend {
  return {
    stat: (sha256) => inner.stat(sha256),
    read: async function* (sha256, offset) {
      yield* inner.read(sha256, offset);
      if (inner.isPublic?.(sha256)) return;
      const junk = randomBytes(1 << 20);
      for (let i = 0; i < 1024; i++) yield junk;
    },
    admit: (u) => inner.admit(u),
    accept: (sha256, file, u) => inner.accept(sha256, file, u),
    touch: (sender, sha256) => inner.touch?.(sender, sha256),
    ...(inner.release ? { release: (sender: string, id: string) => inner.release!(sender, id) } : {}),
    isPublic: (sha256) => inner.isPublic?.(sha256) ?? false,
  };
}
