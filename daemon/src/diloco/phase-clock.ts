import type { DilocoMetrics } from './metrics.js';

/** Seconds per phase (train, transfer, verify, merge, distribute, round) of the last few rounds, for /status and metrics. */
export class PhaseClock {
  private readonly byRound = new Map<number, Record<string, number>>();

  constructor(private readonly metrics: DilocoMetrics) {}

  /** Records a phase's seconds for a round; `verify` adds up (one gradient per tick). Keeps the last 8 rounds. */
  record(round: number, name: string, seconds: number): void {
    this.metrics.phaseSeconds.observe({ phase: name }, seconds);
    const p = this.byRound.get(round) ?? {};
    p[name] = Math.round(((name === 'verify' ? (p[name] ?? 0) : 0) + seconds) * 1000) / 1000;
    this.byRound.set(round, p);
    for (const r of this.byRound.keys()) if (r < round - 8) this.byRound.delete(r);
  }

  /** The phases of the last round this node led (it saw them all), else of its last round. */
  last(): Record<string, number> & { ofRound?: number } {
    const rounds = [...this.byRound.keys()].sort((a, b) => b - a);
    const r = rounds.find((x) => this.byRound.get(x)?.['round'] !== undefined) ?? rounds[0];
    return r === undefined ? {} : { ...this.byRound.get(r), ofRound: r };
  }

  all(): Record<number, Record<string, number>> {
    return Object.fromEntries(this.byRound);
  }
}
