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
    trainTokensPerSecond: m.gauge('diloco_train_tokens_per_second', 'Training throughput reported by the trainer'),
    failovers: m.counter('diloco_failovers_total', 'Leader takeovers this node agreed to or made'),
  };
}

export type DilocoMetrics = ReturnType<typeof dilocoMetrics>;
