/**
 * Progress of a long CLI operation on stderr (stdout stays the command's answer): on a terminal one bar redrawn in
 * place with its rate and time left; elsewhere (logs, CI, pipes) one plain line per quarter, so logs stay short.
 */
export interface ProgressSink {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

const BAR = 24;
const REDRAW_MS = 100;

export class Progress {
  private done = 0;
  private readonly started: number;
  private lastDraw = 0;
  private lastQuarter = 0;
  private finished = false;

  constructor(
    private readonly label: string,
    /** Bytes expected; 0 when unknown (no bar, no time left). */
    private readonly total: number,
    private readonly out: ProgressSink = process.stderr,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  add(bytes: number): void {
    this.done += bytes;
    const t = this.now();
    if (this.out.isTTY) {
      if (t - this.lastDraw >= REDRAW_MS) this.draw(t);
      return;
    }
    const quarter = this.total > 0 ? Math.floor((this.done / this.total) * 4) : 0;
    if (quarter > this.lastQuarter && quarter < 4) {
      this.lastQuarter = quarter;
      this.out.write(`${this.line(t)}\n`);
    }
  }

  /** The last line: the whole operation's size, time and mean rate. */
  finish(note = 'done'): void {
    if (this.finished) return;
    this.finished = true;
    const t = this.now();
    const secs = Math.max(0.001, (t - this.started) / 1000);
    const text = `${this.label}: ${note}, ${mb(this.done)} in ${secs.toFixed(1)} s (${mb(this.done / secs)}/s)`;
    this.out.write(this.out.isTTY ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }

  private draw(t: number): void {
    this.lastDraw = t;
    const line = this.line(t);
    const width = this.out.columns ?? 100;
    this.out.write(`\r\x1b[2K${line.slice(0, width - 1)}`);
  }

  /** "put model.bin [#########...............] 37% 120.4/325.0 MB 48.1 MB/s, 4 s left" */
  line(t: number): string {
    const secs = Math.max(0.001, (t - this.started) / 1000);
    const rate = this.done / secs;
    if (this.total <= 0) return `${this.label} ${mb(this.done)} ${mb(rate)}/s`;
    const frac = Math.min(1, this.done / this.total);
    const filled = Math.round(frac * BAR);
    const left = rate > 0 ? Math.max(0, (this.total - this.done) / rate) : NaN;
    const eta = Number.isFinite(left) ? `, ${duration(left)} left` : '';
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${Math.floor(frac * 100)}% ${mb(this.done, false)}/${mb(this.total)} ${mb(rate)}/s${eta}`;
  }
}

function mb(bytes: number, unit = true): string {
  return `${(bytes / 1e6).toFixed(1)}${unit ? ' MB' : ''}`;
}

function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
