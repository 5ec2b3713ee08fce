import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { crashPoint } from '../util/crash-points.js';
import { errorMessage } from '../util/errors.js';
import { hedged } from '../util/hedge.js';
import { type RoundContext, currentRound, gradientFile, maxGradientBytes } from './context.js';
import type { Ack, OutcomeProposal, Vote } from './messages.js';
import { removeOutput } from './checkpoint-store.js';
import { CertificateRefused, type Promotion, checkProposal } from './promotion.js';
import type { RoundMessageKind, RoundRefusal } from './refusals.js';
import { proposalDigest, signerOf, voteDigest } from './statements.js';
import { type Verifier, worseDetail } from './verifier.js';

const ok: Ack = { accepted: true, reason: '' };
/** A voter asks the leader for a gradient too when its contributor has not delivered it within this... */
const FETCH_HEDGE_MS = 3000;
/** ...plus the time the gradient takes at this rate (a modest link: a slow but working contributor keeps the job). */
const HEDGE_BYTES_PER_SEC = 8 * 1024 * 1024;

/**
 * Votes on outcome proposals. A member votes for a proposal of the round it is at only after it recomputed the
 * merge from the listed gradients (bit-exact) and found the result no worse on its own held-out windows; at most
 * once per (round, leader), never for a leader it gave up on, and, once it voted in a round, only for the same
 * checkpoint in that round (its lock) unless that proposal's leader is caught equivocating. Votes go to every member
 * with the proposal, so any member can assemble the certificate: a leader cannot withhold one.
 */
export class Voting {
  private readonly sentAt = new Map<string, number>();
  private readonly noted = new Set<string>();
  private readonly fetchDir: string;

  constructor(
    private readonly ctx: RoundContext,
    private readonly promotion: Promotion,
    private readonly verifier: Verifier,
    private readonly failLeader: (round: number, leader: string, reason: string) => void,
  ) {
    this.fetchDir = join(ctx.gradDir, 'fetched');
    mkdirSync(this.fetchDir, { recursive: true });
  }

  /**
   * SubmitVote: votes (the sender's, or relayed) with the proposal they are for. A leader proposes this way: its
   * proposal with its own vote. The proposal is kept for this node to recompute and vote on in its next tick.
   */
  onVotes(from: string, p: OutcomeProposal, votes: Vote[]): Ack {
    if (p.round < currentRound(this.ctx)) return { accepted: true, reason: 'that round is certified here already' };
    const ack = this.admit('vote', from, p);
    if (!ack.accepted) return ack;
    const digest = proposalDigest(p);
    const want = voteDigest(digest);
    let added = 0;
    for (const v of votes) {
      const s = signerOf(want, v.signature);
      if (!s || s.nodeId !== v.voter) {
        this.ctx.refuser.note('vote', from, 'bad_signature', `a vote claimed for ${v.voter} is not signed by it`);
        continue;
      }
      if (!this.ctx.view.isMember(s.nodeId, s.address)) {
        this.ctx.refuser.note('vote', from, 'not_member', `a vote by ${v.voter}, who is not a member`);
        continue;
      }
      if (this.ctx.outcomes.addVote(digest.toString('hex'), v)) added++;
    }
    if (added > 0) void this.tryCertify(digest.toString('hex'), p);
    return ok;
  }

  /**
   * The checks every proposal passes before it is kept: the round this node is at, on its latest, signed by a member
   * leader with well-formed contributions, and not a second, different proposal from the same leader in the same
   * round (equivocation: the leader is given up on and never leads again in this node's view).
   */
  private admit(kind: RoundMessageKind, from: string, p: OutcomeProposal): Ack {
    const c = this.ctx;
    const no = (reason: RoundRefusal, detail: string) => c.refuser.refuse(kind, from, reason, detail, { currentRound: currentRound(c) });
    const r = currentRound(c);
    if (p.round !== r) return no('wrong_round', `a proposal for round ${p.round}; this node is at round ${r}`);
    const bad = checkProposal(c, p);
    if (bad) return no(bad.reason, bad.detail);
    const latest = c.outcomes.latest();
    if (!latest || latest.sha256 !== p.parentSha256)
      return no('parent_mismatch', `its parent ${p.parentSha256} is not this node's latest ${latest?.sha256}`);
    const digest = proposalDigest(p).toString('hex');
    const other = c.outcomes.proposals(r).find((q) => q.proposal.leader === p.leader && q.digest !== digest);
    if (other) {
      if (!c.outcomes.equivocated(p.leader, r)) c.outcomes.addProposal(digest, p); // the evidence: two proposals, no more
      if (c.outcomes.addEquivocation(p.leader, r, other.digest, digest)) {
        c.metrics.equivocations.inc();
        c.log.error(
          { round: r, leader: p.leader, proposals: [other.digest, digest] },
          'equivocation: the leader signed two different proposals for one round',
        );
        this.failLeader(r, p.leader, 'equivocation');
        void this.spreadEvidence([other.proposal, p]);
      }
      return no('equivocation', `${p.leader} signed two different proposals for round ${r}`);
    }
    c.outcomes.addProposal(digest, p);
    return ok;
  }

  /**
   * Both proposals of an equivocating leader go to every member (without votes): each sees the proof itself, gives
   * up on that leader and drops any lock on its proposals, so the round moves on under the next leader.
   */
  private async spreadEvidence(proposals: OutcomeProposal[]): Promise<void> {
    const c = this.ctx;
    const to = c.network.livePeers().filter((x) => x.member);
    await Promise.all(to.flatMap((x) => proposals.map((p) => c.network.submitVotes(x.nodeId, p, []).catch(() => undefined))));
  }

  /** The proposal this node's first vote of round r went to, unless its leader has since been caught equivocating. */
  lock(r: number): { digest: string; sha256: string; proposal: OutcomeProposal } | undefined {
    const first = this.ctx.outcomes.myVotes(r)[0];
    if (!first || this.ctx.outcomes.equivocated(first.leader, r)) return undefined;
    const proposal = this.ctx.outcomes.proposal(first.digest);
    return proposal && { ...first, proposal };
  }

  /** A proposal this node made itself as leader: kept, voted for (it computed the merge), and sent to every member. */
  async proposeOwn(p: OutcomeProposal): Promise<string> {
    const c = this.ctx;
    const digest = proposalDigest(p).toString('hex');
    c.outcomes.addProposal(digest, p);
    this.castVote(p, digest);
    crashPoint('leader:proposed');
    await this.broadcast(p, digest, true);
    return digest;
  }

  /** Votes on the current round's proposals, re-sends votes still short of a quorum, certifies when one has it. */
  async drive(): Promise<void> {
    const c = this.ctx;
    const r = currentRound(c);
    for (const { digest, proposal } of c.outcomes.proposals(r)) {
      if (currentRound(c) !== r) return; // certified meanwhile
      if (await this.tryCertify(digest, proposal)) return;
      if (c.outcomes.myVote(r, proposal.leader)) {
        if (c.outcomes.myVote(r, proposal.leader)?.digest === digest) await this.broadcast(proposal, digest, false);
        continue;
      }
      await this.considerVoting(proposal, digest);
    }
  }

  private async considerVoting(p: OutcomeProposal, digest: string): Promise<void> {
    const c = this.ctx;
    if (!c.view.selfIsMember()) return;
    const once = (reason: RoundRefusal, detail: string) => {
      if (this.noted.has(`${digest}:${reason}`)) return;
      this.noted.add(`${digest}:${reason}`);
      c.metrics.votes.inc({ result: reason });
      c.refuser.note('proposal', p.leader, reason, detail);
    };
    if (c.outcomes.equivocated(p.leader, p.round)) return once('equivocation', `${p.leader} equivocated in round ${p.round}`);
    if (c.view.failed(p.round).has(p.leader)) return once('leader_failed', `this node gave up on ${p.leader} in round ${p.round}`);
    // Only the leader this node expects for the round (its own view) gets its vote; asked again every tick, since a
    // takeover this node has not seen yet becomes expected once it gives up on the earlier leader too.
    if (c.view.expectedLeader(p.round) !== p.leader && c.rounds.get(p.round)?.leader !== p.leader && !this.backedByTrainers(p, digest))
      return once('not_expected_leader', `${p.leader} does not lead round ${p.round} in this node's view`);
    const lock = this.lock(p.round);
    if (lock && lock.sha256 !== p.sha256) return once('locked', `this node voted for ${lock.sha256} in round ${p.round}`);
    if (p.merged) {
      const problem = await this.recompute(p).catch((err: unknown) => {
        c.log.warn({ round: p.round, leader: p.leader, err: errorMessage(err) }, 'cannot recompute the proposed merge yet; will retry');
        return 'retry' as const;
      });
      if (problem === 'retry') return;
      if (problem) {
        once(problem.reason, problem.detail);
        this.failLeader(p.round, p.leader, problem.reason);
        return;
      }
    }
    this.castVote(p, digest);
    crashPoint('voter:voted');
    await this.broadcast(p, digest, true);
    await this.tryCertify(digest, p);
  }

  /**
   * A member that does not train gets no announcements, so it cannot tell a live leader that stays silent from one
   * still at work: it gives up on leaders that stop heartbeating by itself (Failover.checkLiveness), and for the rest
   * follows the trainers. A proposal by a leader it does not expect gets its vote once at least two thirds of the
   * other live member trainers voted for it (each of them votes only for the leader its own failover expects). Two
   * thirds, not a majority: hostile trainers then need two thirds of the others to win these votes for one of them
   * out of turn, while the honest ones (the silent leader aside) still make the two thirds from four trainers up.
   * Without any of this such members voted only for the first leader of each round, so after a failover their votes
   * were missing from the quorum (the churn test: rounds stalled until the deadline failed everyone).
   */
  private backedByTrainers(p: OutcomeProposal, digest: string): boolean {
    const c = this.ctx;
    if (c.view.trains()) return false;
    const others = c.view.trainers().filter((id) => id !== p.leader && !c.view.isStale(id));
    const voters = new Set(c.outcomes.votes(digest).map((v) => v.voter));
    const backing = others.filter((id) => voters.has(id)).length;
    return backing > 0 && backing * 3 >= others.length * 2;
  }

  /**
   * Recomputes the merge on our own inputs (at the proposal's damping); a problem when the hash differs or when the
   * gradients the leader chose make the model worse than the momentum alone (Verifier.judgeMerge).
   */
  private async recompute(p: OutcomeProposal): Promise<{ reason: RoundRefusal; detail: string } | undefined> {
    const c = this.ctx;
    const t0 = Date.now();
    const files: string[] = [];
    for (const s of p.contributions) files.push(await this.gradient(p, s));
    const tmp = join(c.ckpts.dir, `vote-${p.round}-${process.pid}.tmp.safetensors`);
    try {
      const j = await this.verifier.judgeMerge(p.round, c.ckpts.path(p.parentSha256), p.parentSha256, files, tmp, p.damping);
      if (j.sha256 !== p.sha256)
        return {
          reason: 'merge_mismatch',
          detail: `recomputing the merge of round ${p.round} gives ${j.sha256}, the leader proposed ${p.sha256}`,
        };
      if (j.worse) return { reason: 'merge_worse', detail: worseDetail(j, p.damping) };
      await c.ckpts.adopt(tmp, p.sha256); // we hold the merged checkpoint now: no download when it is certified
      c.phases.record(p.round, 'verify_merge', (Date.now() - t0) / 1000);
      c.losses.record({ round: p.round, sha256: p.sha256, lossParent: j.lossParent, lossMerged: j.lossMerged });
      if (Number.isFinite(j.lossMerged)) c.metrics.heldOutLoss.set(j.lossMerged);
      return undefined;
    } finally {
      removeOutput(tmp);
    }
  }

  /**
   * A listed gradient: ours, pushed to us, or fetched (hash-checked). From its contributor first when that one is live
   * here, hedged: the leader is asked too once the contributor failed or has not delivered within FETCH_HEDGE_MS plus
   * the time the gradient takes at HEDGE_BYTES_PER_SEC. Leader first instead put every gradient to every voter on the
   * leader's link (members x trainers gradients a round); contributor first alone cost voters a whole timeout per
   * departed contributor under churn, and in the simulation a slow voter's vote came too late a quarter of the time.
   */
  private async gradient(p: OutcomeProposal, s: { nodeId: string; sha256: string; size: number }): Promise<string> {
    const c = this.ctx;
    const have = gradientFile(c, s.sha256) ?? this.fetched(p.round, s.sha256);
    if (have) return have;
    const file = join(this.fetchDir, `${p.round}-${s.sha256}.safetensors`);
    const max = Math.min(s.size, maxGradientBytes(c, p.parentSha256));
    const contributorFirst = s.nodeId !== p.leader && !c.network.isStale(s.nodeId);
    const sources = [...new Set(contributorFirst ? [s.nodeId, p.leader] : [p.leader, s.nodeId])].filter((id) => id !== c.me);
    const hedgeMs = FETCH_HEDGE_MS + (1000 * s.size) / HEDGE_BYTES_PER_SEC;
    try {
      // Each source into its own file (a hedged pair may both finish); the winner's is renamed into place.
      const got = await hedged(
        sources.map((peer, i) => async () => {
          const part = `${file}.${i}.part`;
          await c.network.fetchBlob(peer, s.sha256, part, max);
          return part;
        }),
        hedgeMs,
        (late) => rmSync(late, { force: true }),
      );
      renameSync(got, file);
      return file;
    } catch (err) {
      throw new Error(`gradient ${s.sha256} of ${s.nodeId} could not be fetched from ${sources.join(' or ')}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  private fetched(round: number, sha256: string): string | undefined {
    const f = `${round}-${sha256}.safetensors`;
    return readdirSync(this.fetchDir).includes(f) ? join(this.fetchDir, f) : undefined;
  }

  /** Fetched gradients of rounds before `round` are no longer needed. */
  prune(round: number): void {
    for (const f of readdirSync(this.fetchDir)) {
      const r = /^(\d+)-/.exec(f)?.[1];
      if (r !== undefined && Number(r) < round) rmSync(join(this.fetchDir, f), { force: true });
    }
  }

  private castVote(p: OutcomeProposal, digest: string): void {
    const c = this.ctx;
    const vote: Vote = { voter: c.me, signature: c.signer.sign(voteDigest(Buffer.from(digest, 'hex'))) };
    if (c.outcomes.castVote(p.round, p.leader, digest, p.sha256, vote)) {
      c.metrics.votes.inc({ result: 'voted' });
      c.log.info({ round: p.round, leader: p.leader, sha256: p.sha256, merged: p.merged }, 'voted for the proposed outcome');
    }
  }

  /** Sends our vote, with the proposal, to every live member (again every half grace until the round is certified). */
  private async broadcast(p: OutcomeProposal, digest: string, now: boolean): Promise<void> {
    const c = this.ctx;
    const last = this.sentAt.get(digest) ?? 0;
    if (!now && Date.now() - last < (c.opts.announceGraceSec * 1000) / 2) return;
    this.sentAt.set(digest, Date.now());
    const mine = c.outcomes.votes(digest).filter((v) => v.voter === c.me);
    if (mine.length === 0) return;
    const to = c.network.livePeers().filter((x) => x.member);
    await Promise.all(
      to.map((x) =>
        c.network
          .submitVotes(x.nodeId, p, mine)
          .catch((err: unknown) => c.log.debug({ peer: x.nodeId, err: errorMessage(err) }, 'vote not delivered')),
      ),
    );
  }

  /** Applies the certificate when the proposal has a quorum of votes. */
  private async tryCertify(digest: string, p: OutcomeProposal): Promise<boolean> {
    const c = this.ctx;
    const votes = c.outcomes.votes(digest);
    if (votes.length < c.view.quorum() || p.round !== currentRound(c)) return false;
    try {
      return await this.promotion.apply({ proposal: p, votes }, 'votes', p.leader);
    } catch (err) {
      if (err instanceof CertificateRefused) c.refuser.note('vote', p.leader, err.reason, err.detail);
      else c.log.warn({ round: p.round, err: errorMessage(err) }, 'cannot apply the certified outcome yet; will retry');
      return false;
    }
  }
}
