import { type RoundContext, currentRound } from './context.js';

/**
 * Progress-based failover, on this node's own clock: a leader is given up on when no announcement came within the
 * grace after the round began, when no certified outcome came by the deadline plus the grace (the deadline is the
 * leader's, capped at roundTimeoutSec after we accepted), or when it stopped heartbeating. The next trainer in the
 * rotation then leads the same round, exactly as if the first one had died.
 */
export class Failover {
  private readonly failedAt = new Map<number, number>();

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
    else if (now - since > grace) this.fail(r, expected, 'no announcement within the grace');
  }

  fail(round: number, leader: string, reason: string): void {
    const c = this.ctx;
    if (!c.outcomes.failLeader(round, leader, reason)) return;
    this.failedAt.set(round, Date.now());
    c.metrics.failovers.inc({ reason: reason.split(' ')[0] === 'equivocation' ? 'equivocation' : reason.replace(/ /g, '_').slice(0, 40) });
    c.log.warn({ round, leader, reason, next: c.view.expectedLeader(round) ?? null }, 'gave up on the leader of this round');
    for (const r of this.failedAt.keys()) if (r < round - 8) this.failedAt.delete(r);
  }
}
