import { type RoundContext, currentRound } from './context.js';
import { successorOf } from './election.js';

/** Why a live leader is given up on when it never announced its round: the one failure that may be forgiven. */
const LATE = 'no announcement within the grace';

/**
 * Progress-based failover, on this node's own clock: a leader is given up on when no announcement came within the
 * grace after the round began, when no certified outcome came by the deadline plus the grace (the deadline is the
 * leader's, capped at roundTimeoutSec after we accepted), or when it stopped heartbeating. The next trainer in the
 * rotation then leads the same round, exactly as if the first one had died.
 */
export class Failover {
  private readonly failedAt = new Map<number, number>();
  /** Rounds and leaders forgiven once for lateness ("round:leader"). */
  private readonly forgiven = new Set<string>();

  constructor(
    private readonly ctx: RoundContext,
    /** When round r began here: the previous one was certified, or the node started. */
    private readonly roundBegan: (round: number) => number,
  ) {}

  check(): void {
    const c = this.ctx;
    const r = currentRound(c);
    const now = Date.now();
    const grace = c.opts.announceGraceSec * 1000;
    const failed = c.view.failed(r);
    const row = c.rounds.get(r);
    const since = Math.max(this.roundBegan(r), this.failedAt.get(r) ?? 0);
    if (row && row.leader !== c.me && !failed.has(row.leader) && (row.state === 'training' || row.state === 'submitted')) {
      // A leader whose proposal is in gets time for the members to recompute it and vote.
      const proposed = c.outcomes.proposals(r).some((x) => x.proposal.leader === row.leader);
      if (now > row.deadlineMs + (proposed ? 3 : 1) * grace) this.fail(r, row.leader, 'no certified outcome by the deadline');
      else if (c.view.isStale(row.leader) && now - Math.max(since, row.acceptedAt ?? 0) > grace)
        this.fail(r, row.leader, 'the leader stopped heartbeating');
      return;
    }
    if (row?.leader === c.me && !failed.has(c.me)) return; // we lead: the others judge our progress
    const expected = c.view.expectedLeader(r);
    if (expected === undefined) {
      if (now - since > grace && c.view.trainers().length > 0) {
        c.log.warn({ round: r }, 'every trainer was given up on in this round: starting the rotation over');
        c.outcomes.clearFailures(r);
        this.failedAt.set(r, now);
      }
      return;
    }
    if (expected === c.me || now < since) return;
    if (c.view.isStale(expected)) this.fail(r, expected, 'the leader stopped heartbeating');
    else if (now - since > grace && !this.proposedInTime(r, expected, since)) this.fail(r, expected, LATE);
  }

  /**
   * A live leader whose proposal we hold is past announcing: a node that came to expect it late (it was away, or
   * was itself the leader the others gave up on) gets no announcement, and must not give it up for lateness before
   * the round could have run its course, or its vote goes to nobody.
   */
  private proposedInTime(r: number, leader: string, since: number): boolean {
    const c = this.ctx;
    if (!c.outcomes.proposals(r).some((x) => x.proposal.leader === leader)) return false;
    return Date.now() - since <= c.opts.roundTimeoutSec * 1000 + 3 * c.opts.announceGraceSec * 1000;
  }

  /**
   * A member that does not train gets no announcements, so it judges the leaders by liveness alone: the leader it
   * expects is given up on once it stopped heartbeating for a grace into the round, as a trainer would. That covers
   * the common failover (a leader leaving mid-round) on this node's own evidence; for a leader that is live but
   * silent it follows the trainers' votes instead (Voting.backedByTrainers).
   */
  checkLiveness(): void {
    const c = this.ctx;
    const r = currentRound(c);
    const now = Date.now();
    const grace = c.opts.announceGraceSec * 1000;
    if (now - this.roundBegan(r) <= grace) return;
    for (let n = c.view.trainers().length; n > 0; n--) {
      const expected = c.view.expectedLeader(r);
      if (expected === undefined) {
        // Every trainer given up on, and some are back: start the rotation over, as trainers do.
        if (now - (this.failedAt.get(r) ?? 0) > grace && c.view.trainers().some((id) => !c.view.isStale(id))) {
          c.log.warn({ round: r }, 'every trainer was given up on in this round: starting the rotation over');
          c.outcomes.clearFailures(r);
          this.failedAt.set(r, now);
        }
        return;
      }
      if (!c.view.isStale(expected)) return;
      this.fail(r, expected, 'the leader stopped heartbeating');
    }
  }

  /**
   * A leader given up on only for not announcing within the grace, that announces after all, is followed again,
   * once per round: it may simply have been busy (judging a gradient, waiting for a check) while our clock ran.
   * Without this, two live nodes can each lead the same round, each refusing the other, until the deadline. Only
   * when no outcome was proposed in the round yet, and only when the leader comes first in the rotation again.
   */
  forgiveLate(round: number, leader: string): boolean {
    const c = this.ctx;
    const key = `${round}:${leader}`;
    if (c.outcomes.failedLeaders(round).get(leader) !== LATE || this.forgiven.has(key)) return false;
    if (c.view.isStale(leader) || c.outcomes.proposals(round).length > 0) return false;
    const failed = c.view.failed(round);
    failed.delete(leader);
    if (successorOf(round, c.view.trainers(), failed) !== leader) return false;
    this.forgiven.add(key);
    c.outcomes.unfailLeader(round, leader);
    c.log.warn({ round, leader }, 'a leader given up on for not announcing did announce: following it after all');
    return true;
  }

  fail(round: number, leader: string, reason: string): void {
    const c = this.ctx;
    if (!c.outcomes.failLeader(round, leader, reason)) return;
    this.failedAt.set(round, Date.now());
    c.metrics.failovers.inc({ reason: reason.split(' ')[0] === 'equivocation' ? 'equivocation' : reason.replace(/ /g, '_').slice(0, 40) });
    c.log.warn({ round, leader, reason, next: c.view.expectedLeader(round) ?? null }, 'gave up on the leader of this round');
    for (const r of this.failedAt.keys()) if (r < round - 8) this.failedAt.delete(r);
    for (const k of this.forgiven) if (Number(k.split(':')[0]) < round - 8) this.forgiven.delete(k);
  }
}
