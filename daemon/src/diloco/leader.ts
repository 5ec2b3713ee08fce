import { join } from 'node:path';
import { crashPoint } from '../util/crash-points.js';
import { errorMessage, isMagnetError } from '../util/errors.js';
import { type RoundContext, gradientFile, maxGradientBytes } from './context.js';
import type { LocalTraining } from './local-training.js';
import {
  type Ack,
  type GradientReady,
  type GradientStatement,
  MAX_DAMPING,
  type OutcomeProposal,
  type RoundAnnouncement,
} from './messages.js';
import { removeOutput } from './checkpoint-store.js';
import { Judging } from './judging.js';
import { checkFromJson } from './outcome-repo.js';
import type { RoundRefusal } from './refusals.js';
import type { JudgedGradient, RoundRow } from './round-repo.js';
import { gradientDigest, proposalDigest, signerOf } from './statements.js';
import { type Verifier, worseDetail } from './verifier.js';
import type { Voting } from './voting.js';

const ok: Ack = { accepted: true, reason: '' };
/** Why a leader gave up on itself (one label of magnet_diloco_failovers_total). */
export const GIVEN_UP = 'the other live trainers gave up on it';

/**
 * The leader's side of a round: announce (collection state first), collect signed gradients from the members that
 * accepted, judge each (spot check at the real merge scale; the leader's own by the next member in the order),
 * merge the accepted ones with equal weights, and propose the outcome for the members to recompute and vote on.
 * After a takeover, a proposal this node already voted for in the round is proposed again unchanged, so a round that
 * may already be certified can only ever certify that checkpoint.
 */
export class Leader {
  private readonly lastAnnounce = new Map<number, number>();
  /** When a round first had a quorum of accepted gradients and nothing left to judge (stragglers wait a grace). */
  private readonly quorumAt = new Map<number, number>();
  private readonly judging: Judging;

  constructor(
    private readonly ctx: RoundContext,
    private readonly trainer: LocalTraining,
    private readonly verifier: Verifier,
    private readonly voting: Voting,
    /** A peer answered that the network is past this round: catch up instead of leading it. */
    private readonly onBehind: () => void,
    /** The other trainers gave up on us in this round: follow the successor they follow. */
    private readonly onGivenUp: (round: number, reason: string) => void,
  ) {
    this.judging = new Judging(ctx, trainer, verifier);
  }

  /** Leads round r: the collection state first, then the announcement, so a fast peer's gradient always finds it. */
  async lead(r: number): Promise<void> {
    const c = this.ctx;
    const latest = c.outcomes.latest();
    if (!latest) return;
    const now = Date.now();
    const row: RoundRow = {
      round: r,
      leader: c.me,
      state: 'collecting',
      baseSha256: latest.sha256,
      baseManifest: latest.manifestId,
      innerSteps: c.opts.innerSteps,
      deadlineMs: now + c.opts.roundTimeoutSec * 1000,
      eligible: c.view.trainers(),
      needed: [c.me],
      failedLeaders: [...c.view.failed(r)],
      mergedSha256: null,
      mergedManifest: null,
      note: null,
      acceptedAt: now,
    };
    c.rounds.put(row);
    c.log.info({ round: r, eligible: row.eligible, failed: row.failedLeaders, base: row.baseSha256 }, 'leading round: announcing');
    const again = c.outcomes.proposals(r).find((x) => x.proposal.leader === c.me) ?? this.relock(r);
    if (again) {
      // Our own proposal of this round (a restart), or the one we voted for under an earlier leader: proposed again.
      c.rounds.update(r, { state: 'proposed', mergedSha256: again.proposal.sha256 });
      if (await this.announce(row)) await this.voting.proposeOwn(again.proposal);
      return;
    }
    if (!(await this.announce(row))) return;
    if (!this.trainer.own(row) && !this.trainer.running) this.trainer.start(row);
  }

  /** The proposal this node is locked on in round r (from an earlier leader), re-signed with us as its leader. */
  private relock(r: number): { proposal: OutcomeProposal } | undefined {
    const lock = this.voting.lock(r);
    if (!lock || lock.proposal.leader === this.ctx.me) return undefined;
    this.ctx.log.warn(
      { round: r, sha256: lock.sha256, from: lock.proposal.leader },
      'taking over a round we voted in: proposing the same outcome',
    );
    const src = lock.proposal;
    const basis = src.basis ?? { leader: src.leader, leaderCheck: src.leaderCheck, signature: src.signature };
    return { proposal: this.sign({ ...src, leader: this.ctx.me, leaderCheck: null, basis }) };
  }

  /** Announces to the trainers whose gradient is not in yet; those that accept join `needed`. False: we stepped down. */
  private async announce(row: RoundRow): Promise<boolean> {
    const c = this.ctx;
    this.lastAnnounce.set(row.round, Date.now());
    const a: RoundAnnouncement = {
      round: row.round,
      leader: c.me,
      innerSteps: row.innerSteps,
      deadlineMs: row.deadlineMs,
      baseSha256: row.baseSha256,
      baseManifest: row.baseManifest,
      eligible: row.eligible,
      failedLeaders: row.failedLeaders,
    };
    // Those that accepted are asked again until their gradient is in: one that gave up on us meanwhile says so.
    const to = c.view.trainers().filter((id) => id !== c.me && !c.grads.get(row.round, id));
    const acks = await Promise.all(
      to.map((id) => c.network.announce(id, a).catch((err: unknown) => ({ accepted: false, reason: `unreachable: ${errorMessage(err)}` }))),
    );
    const joined = to.filter((_, i) => acks[i]?.accepted);
    if (acks.some((a) => (a as Ack).currentRound !== undefined && ((a as Ack).currentRound as number) > row.round)) this.onBehind();
    to.forEach((id, i) => {
      if (!acks[i]?.accepted) c.log.debug({ round: row.round, peer: id, reason: acks[i]?.reason }, 'peer did not accept the round (yet)');
    });
    if (this.givenUp(row.round, to, acks)) return false;
    const cur = c.rounds.get(row.round);
    if (joined.length > 0 && cur?.leader === c.me) c.rounds.update(row.round, { needed: [...new Set([...cur.needed, ...joined])] });
    return true;
  }

  /**
   * A leader that was away (stopped, crashed, cut off) while the other trainers gave up on it and followed its
   * successor comes back believing it still leads: its announcements are refused `leader_failed`, and it refuses the
   * successor's proposal as not expected, so the successor misses its vote (and the votes of the members that do not
   * train, which follow two thirds of the trainers): the round stalled to its deadline and past it (the churn test).
   * Once two thirds of the other live trainers answer that they gave up on it, it gives up on itself and follows. A
   * third of hostile trainers cannot make an honest leader step down: the same bound as the vote.
   */
  private givenUp(round: number, to: string[], acks: Ack[]): boolean {
    const c = this.ctx;
    // Live: heard from lately, or answered just now (a leader just restarted may not have heard from them yet).
    const answered = new Set(to.filter((_, i) => acks[i] !== undefined && !acks[i].reason.startsWith('unreachable')));
    const others = c.view.trainers().filter((id) => id !== c.me && (answered.has(id) || !c.view.isStale(id)));
    const refusing = to.filter((id, i) => others.includes(id) && acks[i]?.reason.startsWith('leader_failed')).length;
    if (refusing === 0 || refusing * 3 < others.length * 2) return false;
    c.log.warn({ round, refusing, live: others.length }, 'the other trainers gave up on this node as leader: stepping down');
    this.onGivenUp(round, GIVEN_UP);
    return true;
  }

  /**
   * Whether `from` may push a gradient of `size` bytes for round r to us (asked by storage before a byte lands):
   * a round we lead and still collect, whose announcement `from` accepted, at most one gradient per sender, no larger
   * than a gradient of this model. undefined when expected, else why not.
   */
  expectsGradient(from: string, round: number, sha256: string, size: number): string | undefined {
    const c = this.ctx;
    const row = c.rounds.get(round);
    if (!row || row.leader !== c.me) return `this node does not lead round ${round}`;
    if (row.state !== 'collecting') return `round ${round} is ${row.state}`;
    if (!row.needed.includes(from)) return `${from} did not accept the announcement of round ${round}`;
    const max = maxGradientBytes(c, row.baseSha256);
    if (size > max) return `${size} bytes; a gradient of this model is at most ${max}`;
    const had = c.grads.get(round, from);
    if (had && had.sha256 !== sha256) return `${from} already sent another gradient (${had.sha256}) for round ${round}`;
    return undefined;
  }

  /** SignalGradientReady: a member's gradient for the round we lead. */
  onGradientReady(from: string, g: GradientReady): Ack {
    const c = this.ctx;
    const no = (reason: RoundRefusal, detail: string) => {
      c.metrics.gradients.inc({ verdict: 'refused', reason });
      return c.refuser.refuse('gradient', from, reason, detail);
    };
    const row = c.rounds.get(g.round);
    if (!row || row.leader !== c.me) return no('not_leader', `this node does not lead round ${g.round}`);
    if (from !== g.nodeId) return no('not_sender', `gradient of ${g.nodeId} signalled by ${from}`);
    // What the message is first (the same answer whenever it comes), then whether it comes in time.
    if (g.tokens !== c.jobs.tokensPerGradient || g.steps !== c.opts.innerSteps)
      return no(
        'tokens_mismatch',
        `claims ${g.tokens} tokens in ${g.steps} steps; a gradient of this network is ${c.jobs.tokensPerGradient} tokens in ${c.opts.innerSteps} steps`,
      );
    const max = maxGradientBytes(c, row.baseSha256);
    if (!(g.size > 0 && g.size <= max)) return no('too_large', `announced ${g.size} bytes; a gradient of this model is at most ${max}`);
    if (g.baseSha256 !== row.baseSha256) return no('base_mismatch', `trained on ${g.baseSha256}, the round's base is ${row.baseSha256}`);
    if (signerOf(gradientDigest(g.round, row.baseSha256, g.sha256, g.size), g.statementSignature)?.nodeId !== from)
      return no('bad_statement', 'the gradient statement is not signed by the sender for this round, base, hash and size');
    if (row.state !== 'collecting') return no('round_closed', `round ${g.round} is ${row.state}`);
    if (!row.needed.includes(from)) return no('not_accepted', 'the sender did not accept the announcement');
    const added = c.grads.add({
      round: g.round,
      nodeId: from,
      sha256: g.sha256,
      manifestId: g.manifestId,
      size: g.size,
      lossBefore: Number.isFinite(g.lossBefore) ? g.lossBefore : null,
      lossAfter: Number.isFinite(g.lossAfter) ? g.lossAfter : null,
      tokens: c.jobs.tokensPerGradient,
      steps: c.opts.innerSteps,
      status: 'received',
      reason: null,
      path: null,
      statementSig: g.statementSignature,
    });
    if (added === 'duplicate') return { accepted: true, reason: 'already received' };
    if (added === 'conflict') return no('duplicate', 'a different gradient was already received from this node for this round');
    return ok;
  }

  /** Re-drives our round from its persisted state. */
  async drive(row: RoundRow): Promise<void> {
    if (row.state === 'collecting') return this.collect(row);
    if (row.state === 'merging') return this.merge(row);
    if (row.state === 'proposed') {
      const mine = this.ctx.outcomes.proposals(row.round).find((x) => x.proposal.leader === this.ctx.me);
      if (mine) await this.voting.proposeOwn(mine.proposal).catch(() => undefined);
    }
  }

  private async collect(row: RoundRow): Promise<void> {
    const c = this.ctx;
    if (!this.trainer.running && !this.trainer.own(row) && !c.grads.get(row.round, c.me)) this.trainer.start(row); // resumed after a restart
    if (Date.now() - (this.lastAnnounce.get(row.round) ?? 0) > (c.opts.announceGraceSec * 1000) / 2 && Date.now() < row.deadlineMs)
      if (!(await this.announce(row))) return;
    const t0 = Date.now();
    let judged = false;
    for (const g of c.grads.forRound(row.round)) {
      if (g.status !== 'received') continue;
      if (g.nodeId === c.me) judged = (await this.judging.checkOwn(row, g)) || judged;
      else judged = (await this.judging.judge(row, g)) || judged;
    }
    if (judged) c.phases.record(row.round, 'verify', (Date.now() - t0) / 1000);
    const cur = c.rounds.get(row.round) as RoundRow;
    const all = c.grads.forRound(row.round).filter((g) => cur.needed.includes(g.nodeId));
    const done = all.filter((g) => g.status !== 'received');
    const waiting = all.some((g) => g.status === 'received' && (g.nodeId === c.me || gradientFile(c, g.sha256) !== undefined));
    const late = Date.now() > cur.deadlineMs && !waiting;
    const quorum = Math.max(1, Math.ceil(c.opts.quorum * cur.needed.length));
    // Live trainers that have not accepted yet may still join: their view of who leads may lag ours by a grace or
    // more. Until two thirds of them did, the round waits (to its deadline); the others get two graces.
    const live = c.view.trainers().filter((id) => id === c.me || !c.view.isStale(id));
    const outside = live.filter((id) => !cur.needed.includes(id));
    const joining =
      outside.length > 0 &&
      (cur.needed.length < Math.ceil((live.length * 2) / 3) || Date.now() - (cur.acceptedAt ?? 0) < 2 * c.opts.announceGraceSec * 1000);
    const complete = done.length >= cur.needed.length && !joining;
    if (!complete && !late && (joining || !this.stragglersWaited(cur, quorum, waiting))) return;
    this.judging.refuseOutliers(cur);
    const accepted = c.grads.forRound(row.round).filter((g) => g.status === 'accepted' && cur.needed.includes(g.nodeId));
    if (accepted.length === 0 || (late && done.length < cur.needed.length && accepted.length < quorum)) {
      return this.abandon(
        cur,
        accepted.length === 0
          ? 'every gradient was refused or none arrived'
          : `deadline passed with ${accepted.length} accepted gradients, quorum ${quorum}`,
      );
    }
    c.rounds.update(row.round, { state: 'merging' });
    await this.merge({ ...cur, state: 'merging' });
  }

  /**
   * With a quorum of accepted gradients and nothing else to judge, the rest get one grace period: a member that
   * accepted the round and then sends nothing (or something refused at the door) cannot hold it to the deadline.
   */
  private stragglersWaited(row: RoundRow, quorum: number, judging: boolean): boolean {
    const c = this.ctx;
    const accepted = c.grads.forRound(row.round).filter((g) => g.status === 'accepted' && row.needed.includes(g.nodeId)).length;
    if (judging || accepted < quorum) return false;
    const since = this.quorumAt.get(row.round) ?? Date.now();
    this.quorumAt.set(row.round, since);
    if (Date.now() - since < c.opts.announceGraceSec * 1000) return false;
    const missing = row.needed.filter((id) => !c.grads.forRound(row.round).some((g) => g.nodeId === id && g.status !== 'received'));
    c.log.warn({ round: row.round, missing }, 'merging without the gradients still missing a grace period after the quorum');
    return true;
  }

  /**
   * Merges the accepted gradients (equal weights, nodeId order) and proposes the result. A step that would leave the
   * model worse than the momentum alone is damped (1/2, 1/4, 1/8 of the mean), and the round abandoned when even
   * 1/8 is: the members check the same on their own windows. Redone after a crash.
   */
  private async merge(row: RoundRow): Promise<void> {
    const c = this.ctx;
    const t0 = Date.now();
    const accepted = c.grads.forRound(row.round).filter((g) => g.status === 'accepted' && row.needed.includes(g.nodeId));
    const files = accepted.map((g) => gradientFile(c, g.sha256));
    if (accepted.length === 0 || files.some((f) => f === undefined)) return this.abandon(row, 'accepted gradients are missing on disk');
    const tmp = join(c.ckpts.dir, `merge-${row.round}-${process.pid}.tmp.safetensors`);
    crashPoint('leader:merging');
    c.log.info({ round: row.round, gradients: files.length, tmp }, 'merge started');
    let sha: string;
    let damping = 0;
    let judged = { lossParent: NaN, lossMerged: NaN, lossMomentum: NaN };
    try {
      for (; damping <= MAX_DAMPING; damping++) {
        const j = await this.verifier.judgeMerge(
          row.round,
          c.ckpts.path(row.baseSha256),
          row.baseSha256,
          files as string[],
          tmp,
          damping,
          0.5,
        );
        judged = j;
        if (!j.worse) break;
        c.metrics.dampedSteps.inc();
        c.log.warn(
          { round: row.round, damping, detail: worseDetail(j, damping) },
          'the outer step would leave the model worse than the momentum alone',
        );
        if (damping === MAX_DAMPING) return this.abandon(row, `merge_worse: ${worseDetail(j, damping)}`);
      }
      sha = await c.ckpts.adopt(tmp);
    } catch (err) {
      if (c.signal.aborted || (isMagnetError(err) && err.code === 'ERR_TRAINER_ABORTED')) {
        // Cut by the shutdown: the round stays "merging" and the merge is redone on the next start (same bytes).
        c.log.info({ round: row.round }, 'merge interrupted by the shutdown; it is redone on the next start');
        return;
      }
      c.log.error({ round: row.round, err: errorMessage(err) }, 'merge failed; round abandoned');
      return this.abandon(row, `merge failed: ${errorMessage(err)}`);
    } finally {
      removeOutput(tmp);
    }
    const { manifestId } = await c.storage.put(c.ckpts.path(sha), { kind: 'checkpoint', round: row.round }).catch((err: unknown) => {
      c.log.warn(
        { round: row.round, err: errorMessage(err) },
        'merged checkpoint not stored in shared storage; members fetch it from this node',
      );
      return { manifestId: null as string | null };
    });
    const own = accepted.find((g) => g.nodeId === c.me);
    const proposal = this.sign({
      round: row.round,
      leader: c.me,
      parentSha256: row.baseSha256,
      merged: true,
      sha256: sha,
      manifestId,
      contributions: accepted.map((g) => this.statementOf(row, g)),
      leaderCheck: own?.checkJson ? checkFromJson(own.checkJson) : null,
      note: '',
      basis: null,
      damping,
    });
    crashPoint('leader:merged');
    c.rounds.update(row.round, { state: 'proposed', mergedSha256: sha, mergedManifest: manifestId });
    c.phases.record(row.round, 'merge', (Date.now() - t0) / 1000);
    c.losses.record({ round: row.round, sha256: sha, lossParent: judged.lossParent, lossMerged: judged.lossMerged });
    if (Number.isFinite(judged.lossMerged)) c.metrics.heldOutLoss.set(judged.lossMerged);
    c.log.info(
      {
        round: row.round,
        sha256: sha,
        damping,
        loss: judged.lossMerged,
        lossMomentum: judged.lossMomentum,
        contributors: accepted.map((g) => g.nodeId),
      },
      'merged; proposing the outcome to the members',
    );
    await this.voting.proposeOwn(proposal);
  }

  private statementOf(row: RoundRow, g: JudgedGradient): GradientStatement {
    const signature = g.nodeId === this.ctx.me ? this.trainer.statement(row, g.sha256, g.size) : (g.statementSig as Buffer);
    return { nodeId: g.nodeId, sha256: g.sha256, size: g.size, signature };
  }

  /** Proposes to end the round without a merge: the next round starts from the same base. */
  private async abandon(row: RoundRow, why: string): Promise<void> {
    const c = this.ctx;
    c.log.warn({ round: row.round, why }, 'proposing to abandon the round');
    const proposal = this.sign({
      round: row.round,
      leader: c.me,
      parentSha256: row.baseSha256,
      merged: false,
      sha256: row.baseSha256,
      manifestId: row.baseManifest,
      contributions: [],
      leaderCheck: null,
      note: why.slice(0, 256),
      basis: null,
      damping: 0,
    });
    c.rounds.update(row.round, { state: 'proposed', note: why });
    await this.voting.proposeOwn(proposal);
  }

  private sign(p: Omit<OutcomeProposal, 'signature'>): OutcomeProposal {
    return { ...p, signature: this.ctx.signer.sign(proposalDigest(p)) };
  }
}
