import type { Metrics } from '../metrics/metrics.js';

export function dilocoMetrics(m: Metrics) {
  return {
    round: m.gauge('diloco_round', 'The round this node works on'),
    rounds: m.counter('diloco_rounds_total', 'Rounds that ended, by outcome (merged, abandoned) and our role', ['outcome', 'role']),
    gradients: m.counter('diloco_gradients_total', 'Gradients a leader judged, by verdict and reason', ['verdict', 'reason']),
    phaseSeconds: m.histogram(
      'diloco_phase_seconds',
      'Seconds spent per round phase',
      ['phase'],
      [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    ),
    trainStep: m.gauge('diloco_train_step', 'Inner step of the running training job'),
    trainLoss: m.gauge('diloco_train_loss', 'Last training loss reported by the trainer'),
    heldOutLoss: m.gauge('diloco_heldout_loss', 'Held-out loss of the last merge this node judged (leader or voter), on its windows'),
    trainTokensPerSecond: m.gauge('diloco_train_tokens_per_second', 'Training throughput reported by the trainer'),
    failovers: m.counter('diloco_failovers_total', 'Leaders this node gave up on in a round, by reason', ['reason']),
    refused: m.counter('diloco_refused_total', 'Round messages refused, by message kind and reason', ['message', 'reason']),
    votes: m.counter('diloco_votes_total', 'Votes this node cast or withheld on outcome proposals, by result', ['result']),
    dampedSteps: m.counter(
      'diloco_damped_steps_total',
      'Outer steps this node (as leader) halved because they left the model worse than the momentum alone',
    ),
    equivocations: m.counter('diloco_equivocations_total', 'Leaders caught signing two proposals for one round'),
    certified: m.counter(
      'diloco_certified_total',
      'Rounds this node saw certified, by outcome (merged, abandoned) and how (votes, outcome, lineage)',
      ['outcome', 'via'],
    ),
  };
}

export type DilocoMetrics = ReturnType<typeof dilocoMetrics>;
