import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Logger } from '../log/logger.js';
import type {
  Ack,
  Certificate,
  GradientCheck,
  GradientCheckRequest,
  GradientReady,
  OutcomeProposal,
  RoundAnnouncement,
  Vote,
} from '../diloco/messages.js';
import type { RoundNetwork, RoundSigner } from '../diloco/ports.js';
import { gradientDigest, proposalDigest, voteDigest } from '../diloco/statements.js';
import { type AdversaryKind, type LeaderMove, followerMoves, leaderMove } from './kinds.js';
import { poisonGradient } from './poison.js';

/** The year-3000 deadline of a far-deadline announcement. */
const FAR = Date.UTC(3000, 0, 1);

/**
 * A member that misbehaves on the wire, around the real coordinator: every round message this node sends passes
 * here first. As leader it stays silent, equivocates (its real proposal to half the members, a forged merge to the
 * others) or announces a year-3000 deadline and never proposes; as follower it poisons its gradients or lies about
 * their tokens. Everything else is the honest node's.
 */
export class HostileRoundNetwork implements RoundNetwork {
  private readonly moves = new Map<number, LeaderMove>();
  private readonly poisoned = new Map<string, { sha256: string; size: number; file: string }>();
  /** The follower move for each of our gradients (by its honest hash), decided once. */
  private readonly lies = new Map<string, 'poison' | 'tokens' | 'none'>();
  private turns = 0;

  constructor(
    private readonly inner: RoundNetwork,
    /** `python`: the trainer's interpreter (diloco.python), which the poison runs with. */
    private readonly d: { me: string; kind: AdversaryKind; signer: RoundSigner; log: Logger; python: string },
  ) {}

  livePeers(): ReturnType<RoundNetwork['livePeers']> {
    return this.inner.livePeers();
  }
  knownPeers(): ReturnType<RoundNetwork['knownPeers']> {
    return this.inner.knownPeers();
  }
  isStale(nodeId: string): boolean {
    return this.inner.isStale(nodeId);
  }
  checkGradient(to: string, req: GradientCheckRequest): Promise<GradientCheck> {
    return this.inner.checkGradient(to, req);
  }
  publishOutcome(to: string, c: Certificate): Promise<Ack> {
    return this.inner.publishOutcome(to, c);
  }
  latestOf(peer: string, round: number): Promise<Ack> {
    return this.inner.latestOf(peer, round);
  }
  lineageOf(peer: string, afterRound: number, limit: number): Promise<Certificate[]> {
    return this.inner.lineageOf(peer, afterRound, limit);
  }
  fetchBlob(from: string, sha256: string, dest: string, maxBytes: number): Promise<void> {
    return this.inner.fetchBlob(from, sha256, dest, maxBytes);
  }

  /** This node's move in a round it leads: one per leadership turn, logged once. */
  private move(round: number): LeaderMove {
    let m = this.moves.get(round);
    if (m === undefined) {
      m = leaderMove(this.d.kind, this.turns++);
      this.moves.set(round, m);
      this.d.log.warn({ adversary: this.d.kind, round, ...m }, 'adversary: leading this round');
    }
    return m;
  }

  async announce(to: string, a: RoundAnnouncement): Promise<Ack> {
    if (a.leader === this.d.me) {
      const m = this.move(a.round);
      if (m.silent) throw new Error('adversary: the silent leader withholds its announcement');
      if (m.farDeadline) return this.inner.announce(to, { ...a, deadlineMs: FAR });
    }
    return this.inner.announce(to, a);
  }

  async submitVotes(to: string, p: OutcomeProposal, votes: Vote[]): Promise<Ack> {
    if (p.leader !== this.d.me) return this.inner.submitVotes(to, p, votes);
    const m = this.move(p.round);
    if (m.silent || m.stall) throw new Error('adversary: this leader never proposes');
    if (m.equivocate && this.half(to) === 1) {
      const forged = this.forge(p);
      return this.inner.submitVotes(to, forged, [{ voter: this.d.me, signature: this.d.signer.sign(voteDigest(proposalDigest(forged))) }]);
    }
    return this.inner.submitVotes(to, p, votes);
  }

  /** The same proposal with a merged checkpoint that is not the merge of what it lists, signed as ours. */
  private forge(p: OutcomeProposal): OutcomeProposal {
    const sha256 = createHash('sha256').update(`forged merge of round ${p.round}`).digest('hex');
    const unsigned = { ...p, sha256 };
    return { ...unsigned, signature: this.d.signer.sign(proposalDigest(unsigned)) };
  }

  async pushBlob(to: string, file: string, sha256: string, round: number): Promise<void> {
    const bad = await this.poisonFor(file, sha256);
    return bad ? this.inner.pushBlob(to, bad.file, bad.sha256, round) : this.inner.pushBlob(to, file, sha256, round);
  }

  async gradientReady(to: string, g: GradientReady): Promise<Ack> {
    const bad = this.poisoned.get(g.sha256);
    if (bad) {
      const statementSignature = this.d.signer.sign(gradientDigest(g.round, g.baseSha256, bad.sha256, bad.size));
      return this.inner.gradientReady(to, { ...g, sha256: bad.sha256, size: bad.size, statementSignature });
    }
    if (this.lie(g.sha256) === 'tokens') return this.inner.gradientReady(to, { ...g, tokens: 2 ** 53 - 1 });
    return this.inner.gradientReady(to, g);
  }

  /** Poison or tokens for each new gradient (mixed alternates, starting with poison); the same for its resends. */
  private lie(sha256: string): 'poison' | 'tokens' | 'none' {
    let l = this.lies.get(sha256);
    if (l === undefined) {
      const { poison, tokens } = followerMoves(this.d.kind);
      l = poison && tokens ? (this.lies.size % 2 === 0 ? 'poison' : 'tokens') : poison ? 'poison' : tokens ? 'tokens' : 'none';
      this.lies.set(sha256, l);
    }
    return l;
  }

  /** The split of an equivocation: members in nodeId order, every other one gets the forged proposal. */
  private half(to: string): number {
    const members = this.inner
      .livePeers()
      .filter((p) => p.member)
      .map((p) => p.nodeId)
      .sort();
    return Math.max(0, members.indexOf(to)) % 2;
  }

  /** A poisoned copy of our gradient: the honest update reversed and scaled eight times, inside the norm bounds. */
  private async poisonFor(file: string, sha256: string): Promise<{ sha256: string; size: number; file: string } | undefined> {
    if (this.lie(sha256) !== 'poison') return undefined;
    const known = this.poisoned.get(sha256);
    if (known) return known;
    const out = `${file}.poisoned`;
    const bad = { ...(await poisonGradient(file, out, -8, this.d.python)), file: out };
    bad.size = statSync(out).size;
    this.poisoned.set(sha256, bad);
    this.d.log.warn({ adversary: this.d.kind, honest: sha256, poisoned: bad.sha256 }, 'adversary: submitting a poisoned gradient');
    return bad;
  }
}
