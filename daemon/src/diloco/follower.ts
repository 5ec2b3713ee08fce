import { errorMessage } from '../util/errors.js';
import { type RoundContext, currentRound } from './context.js';
import type { LocalTraining } from './local-training.js';
import type { Ack, RoundAnnouncement } from './messages.js';
import type { RoundRow } from './round-repo.js';

const ok: Ack = { accepted: true, reason: '' };

/**
 * A trainer's side of someone else's round: it accepts an announcement only from the leader its own view expects,
 * for the round it is at, on its own latest checkpoint; then it trains and submits its gradient to that leader.
 */
export class Follower {
  constructor(
    private readonly ctx: RoundContext,
    private readonly trainer: LocalTraining,
  ) {}

  onAnnouncement(from: string, a: RoundAnnouncement): Ack {
    const c = this.ctx;
    const no = (reason: Parameters<RoundContext['refuser']['refuse']>[2], detail: string) =>
      c.refuser.refuse('announcement', from, reason, detail, this.hint());
    if (!c.opts.enabled || !c.view.trains()) return no('not_participating', 'this node does not train in this network');
    if (from !== a.leader) return no('not_sender', `announcement for leader ${a.leader} sent by ${from}`);
    const r = currentRound(c);
    if (a.round !== r) return no('wrong_round', `round ${a.round} announced, this node is at round ${r}`);
    const latest = c.outcomes.latest();
    if (!latest || a.baseSha256 !== latest.sha256)
      return no('base_mismatch', `base ${a.baseSha256} is not this node's latest ${latest?.sha256}`);
    if (a.innerSteps !== c.opts.innerSteps)
      return no('config_mismatch', `H=${a.innerSteps} announced, this network trains H=${c.opts.innerSteps}`);
    const expected = c.view.expectedLeader(r);
    if (expected !== from) {
      if (c.view.failed(r).has(from)) return no('leader_failed', `this node gave up on ${from} in round ${r}`);
      return no('not_expected_leader', `the leader of round ${r} is ${expected ?? 'nobody'} in this node's view`);
    }
    const prev = c.rounds.get(r);
    if (prev?.leader === from) return ok; // a repeated announcement
    const now = Date.now();
    const cap = now + c.opts.roundTimeoutSec * 1000;
    if (a.deadlineMs > cap)
      c.refuser.note(
        'announcement',
        from,
        'deadline_capped',
        `its deadline ${new Date(a.deadlineMs).toISOString()} is past roundTimeoutSec; this node gives up on it at ${new Date(cap).toISOString()}`,
      );
    c.rounds.put({
      round: r,
      leader: from,
      state: 'training',
      baseSha256: a.baseSha256,
      baseManifest: a.baseManifest,
      innerSteps: a.innerSteps,
      // Our own deadline: the leader's, but never later than roundTimeoutSec on our clock (no year-3000 rounds).
      deadlineMs: Math.min(a.deadlineMs, cap),
      eligible: a.eligible.slice(0, 1024),
      needed: [],
      failedLeaders: [...c.view.failed(r)],
      mergedSha256: null,
      mergedManifest: null,
      note: null,
      acceptedAt: now,
    });
    c.log.info({ round: r, leader: from, base: a.baseSha256 }, 'round announced: training');
    return ok;
  }

  /** Trains our gradient when the round needs one, and submits it to the round's leader. */
  async drive(row: RoundRow): Promise<void> {
    const mine = this.trainer.own(row);
    if (!mine && !this.trainer.running && row.state === 'training') this.trainer.start(row);
    if (mine && row.state === 'training') {
      // A leader that cannot take our gradient is replaced by failover, not by failing the tick.
      const sent = await this.trainer
        .submit(row)
        .catch(
          (err: unknown) =>
            void this.ctx.log.warn(
              { round: row.round, leader: row.leader, err: errorMessage(err) },
              'cannot submit our gradient to the leader yet',
            ),
        );
      if (sent) this.ctx.rounds.update(row.round, { state: 'submitted' });
    }
  }

  /** Our latest and round, sent with a refusal so a caller that is behind learns where the network is. */
  private hint(): Partial<Ack> {
    const l = this.ctx.outcomes.latest();
    return {
      currentRound: currentRound(this.ctx),
      ...(l && l.round >= 0 ? { latest: { round: l.round, sha256: l.sha256, manifestId: l.manifestId } } : {}),
    };
  }
}
