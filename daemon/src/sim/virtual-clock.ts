/**
 * A discrete-event clock for the round simulation: while installed, `Date.now`, `setTimeout`, `setInterval` and their
 * clear functions of this process run on virtual time, so the real round modules (which read the time and set timers
 * through those globals, about 50 call sites) run unchanged and a simulated hour takes as long as its events do.
 *
 * `run` fires the earliest timer, jumps the time to it, and before the next one waits until the process is quiet:
 * every promise continuation ran (a real `setImmediate` turn) and no real file-system request is in flight (the
 * checkpoint store hashes files with real streams). Nothing else in the process may rely on real time meanwhile.
 */
import { setImmediate as realImmediate } from 'node:timers';

interface Timer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
  every: number | undefined;
  live: boolean;
}

/** The handle the patched setTimeout/setInterval return (what Node's Timeout offers that callers use). */
class Handle {
  constructor(readonly id: number) {}
  unref(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
  [Symbol.toPrimitive](): number {
    return this.id;
  }
}

export class VirtualClock {
  private t: number;
  private seq = 0;
  private nextId = 1;
  private readonly heap: Timer[] = [];
  private readonly byId = new Map<number, Timer>();
  private saved: Record<string, unknown> | undefined;
  /** Timers fired so far (the simulation's event count). */
  fired = 0;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  /** Runs `fn` at now + ms (virtual); every `every` ms after that when set. */
  schedule(ms: number, fn: () => void, every?: number): number {
    const id = this.nextId++;
    const timer: Timer = { id, at: this.t + Math.max(0, ms), seq: this.seq++, fn, every, live: true };
    this.byId.set(id, timer);
    this.push(timer);
    return id;
  }

  cancel(id: unknown): void {
    const key = typeof id === 'object' && id !== null ? Number(id as Handle) : Number(id);
    const timer = this.byId.get(key);
    if (timer) timer.live = false;
    this.byId.delete(key);
  }

  /** A promise resolved `ms` of virtual time from now. */
  sleep(ms: number): Promise<void> {
    return new Promise((res) => this.schedule(ms, res));
  }

  /** Patches the process's time globals onto this clock (undone by uninstall). */
  install(): void {
    if (this.saved) return;
    const g = globalThis as unknown as Record<string, unknown>;
    this.saved = { setTimeout: g.setTimeout, clearTimeout: g.clearTimeout, setInterval: g.setInterval, clearInterval: g.clearInterval };
    const dateNow = Date.now;
    this.saved['DateNow'] = dateNow;
    g.setTimeout = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) =>
      new Handle(this.schedule(Number(ms ?? 0) || 0, () => fn(...args)));
    g.setInterval = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const every = Math.max(1, Number(ms ?? 0) || 0);
      return new Handle(this.schedule(every, () => fn(...args), every));
    };
    g.clearTimeout = (h: unknown) => this.cancel(h);
    g.clearInterval = (h: unknown) => this.cancel(h);
    Date.now = () => this.t;
  }

  uninstall(): void {
    const s = this.saved;
    if (!s) return;
    const g = globalThis as unknown as Record<string, unknown>;
    for (const k of ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval']) g[k] = s[k];
    Date.now = s['DateNow'] as () => number;
    this.saved = undefined;
  }

  /**
   * Fires timers in time order until `done()` holds (checked whenever the time moves) or the virtual time passes
   * `untilMs`. Returns true when `done()` held.
   */
  async run(done: () => boolean, untilMs: number): Promise<boolean> {
    await quiet();
    for (;;) {
      if (done()) return true;
      const next = this.pop();
      if (!next) return done();
      if (next.at > untilMs) {
        this.push(next);
        this.t = untilMs;
        return done();
      }
      this.t = Math.max(this.t, next.at);
      this.fire(next);
      // Everything else due at the same instant fires before the process settles.
      while (this.heap.length > 0 && (this.heap[0] as Timer).at <= this.t) this.fire(this.pop() as Timer);
      await quiet();
    }
  }

  private fire(timer: Timer): void {
    if (!timer.live) return;
    if (timer.every !== undefined) {
      timer.at = this.t + timer.every;
      timer.seq = this.seq++;
      this.push(timer);
    } else this.byId.delete(timer.id);
    this.fired++;
    timer.fn();
  }

  private pop(): Timer | undefined {
    for (;;) {
      const h = this.heap;
      if (h.length === 0) return undefined;
      const top = h[0] as Timer;
      const last = h.pop() as Timer;
      if (h.length > 0) {
        h[0] = last;
        this.down(0);
      }
      if (top.live) return top;
    }
  }

  private push(timer: Timer): void {
    const h = this.heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i] as Timer, h[p] as Timer)) break;
      [h[i], h[p]] = [h[p] as Timer, h[i] as Timer];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l] as Timer, h[m] as Timer)) m = l;
      if (r < h.length && before(h[r] as Timer, h[m] as Timer)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as Timer, h[i] as Timer];
      i = m;
    }
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Real file-system requests in flight (libuv), which finish on their own time. */
function ioPending(): boolean {
  return process.getActiveResourcesInfo().some((r) => r.startsWith('FSReq'));
}

/** Waits until every promise continuation ran and no real file-system request is in flight. */
async function quiet(): Promise<void> {
  for (let i = 0; i < 2 || ioPending(); i++) await new Promise<void>((res) => realImmediate(res));
}
