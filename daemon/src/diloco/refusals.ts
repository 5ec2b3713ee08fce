import type { Logger } from '../log/logger.js';
import type { Ack } from './messages.js';
import type { DilocoMetrics } from './metrics.js';

/** Why a round message was refused: each is a label of magnet_diloco_refused_total and starts the Ack's reason. */
export type RoundRefusal =
  | 'not_participating'
  | 'not_member'
  | 'not_sender'
  | 'wrong_round'
  | 'stale_round'
  | 'base_mismatch'
  | 'parent_mismatch'
  | 'not_expected_leader'
  | 'leader_failed'
  | 'config_mismatch'
  | 'deadline_capped'
  | 'not_leader'
  | 'round_closed'
  | 'not_accepted'
  | 'tokens_mismatch'
  | 'too_large'
  | 'bad_statement'
  | 'duplicate'
  | 'bad_signature'
  | 'equivocation'
  | 'bad_contribution'
  | 'unchecked_leader_gradient'
  | 'no_quorum'
  | 'bad_certificate'
  | 'merge_mismatch'
  | 'merge_worse'
  | 'locked'
  // a leader's verdicts on gradients (verifier.ts)
  | 'size'
  | 'spot_check'
  | 'grad_nonfinite'
  | 'grad_outlier'
  | 'grad_base_mismatch'
  | 'format'
  | 'unchecked'
  | 'unavailable'
  // this node is stopping: it takes no new round work (the sender retries elsewhere or later)
  | 'shutting_down';

/** The kinds of round message, the other label of the refusal metric. */
export type RoundMessageKind = 'announcement' | 'gradient' | 'check' | 'proposal' | 'vote' | 'outcome' | 'lineage';

/** Refuses round messages the one way: an Ack with `reason: detail`, a log line naming the sender, a metric. */
export class Refuser {
  constructor(
    private readonly log: Logger,
    private readonly metrics: DilocoMetrics,
  ) {}

  refuse(kind: RoundMessageKind, sender: string, reason: RoundRefusal, detail: string, extra: Partial<Ack> = {}): Ack {
    this.note(kind, sender, reason, detail);
    return { ...extra, accepted: false, reason: `${reason}: ${detail}` };
  }

  /** Counts and logs a refusal that is not an answer (a vote withheld, an outcome from a lineage dropped). */
  note(kind: RoundMessageKind, sender: string, reason: RoundRefusal, detail: string): void {
    this.metrics.refused.inc({ message: kind, reason });
    this.log.warn({ sender, message: kind, reason, detail }, `refused ${kind} from ${sender}: ${reason}: ${detail}`);
  }
}
