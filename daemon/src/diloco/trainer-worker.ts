import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../log/logger.js';
import { MagnetError } from '../util/errors.js';
import { REPO_ROOT } from '../version.js';
import { type TrainerEvent, trainerAborted, trainerError, trainerPython } from './trainer-runner.js';

interface Pending {
  id: number;
  args: string[];
  resolve: (e: TrainerEvent) => void;
  reject: (err: Error) => void;
  onEvent?: ((e: TrainerEvent) => void) | undefined;
}

/**
 * A long-lived `python -m magnet_trainer worker`: commands go in as JSON lines, one at a time (callers queue), and
 * come back as the same events a one-shot trainer prints, tagged with their id. Python, torch and the token streams
 * load once instead of once per command. A command aborted by its signal, or a worker that dies (a crash, SIGKILL
 * mid-save), fails that command as a one-shot process would (ERR_TRAINER_ABORTED, ERR_TRAINER_CRASHED); the next
 * command starts a fresh worker. The process is unreferenced while idle, so it never keeps its parent alive, and with
 * `idleMs` it exits after that long without a command (a Python process with torch holds 300+ MiB: 50 daemons on one
 * machine that had each made their genesis checkpoint once held 19 GiB in idle workers).
 */
export class TrainerWorker {
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private stderrTail = '';
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: { env: NodeJS.ProcessEnv; log?: Logger; python?: string; idleMs?: number }) {}

  run(args: string[], opts: { signal?: AbortSignal; onEvent?: (e: TrainerEvent) => void } = {}): Promise<TrainerEvent> {
    const run = this.queue.then(() => this.runNow(args, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Kills the worker (a command in flight fails as aborted). */
  close(): void {
    this.closed = true;
    this.kill();
  }

  private runNow(args: string[], opts: { signal?: AbortSignal; onEvent?: (e: TrainerEvent) => void }): Promise<TrainerEvent> {
    if (this.closed || opts.signal?.aborted) return Promise.reject(trainerAborted(args[0] as string));
    clearTimeout(this.idleTimer);
    const child = this.child ?? this.spawn();
    return new Promise<TrainerEvent>((resolve, reject) => {
      const onAbort = () => this.kill();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        opts.signal?.removeEventListener('abort', onAbort);
        this.pending = undefined;
        this.setRef(false);
        this.idleAfter();
      };
      this.pending = {
        id: this.nextId++,
        args,
        onEvent: opts.onEvent,
        resolve: (e) => {
          done();
          resolve(e);
        },
        reject: (err) => {
          done();
          reject(opts.signal?.aborted ? trainerAborted(args[0] as string) : err);
        },
      };
      this.stderrTail = '';
      this.setRef(true);
      child.stdin.write(`${JSON.stringify({ id: this.pending.id, args })}\n`);
    });
  }

  private spawn(): ChildProcessWithoutNullStreams {
    const python = trainerPython(this.o.python);
    const child = spawn(python, ['-m', 'magnet_trainer', 'worker'], {
      cwd: join(REPO_ROOT, 'python'),
      env: { ...this.o.env, PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    createInterface({ input: child.stdout }).on('line', (line) => this.onLine(line));
    child.stderr.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4000);
    });
    child.once('error', (err) => this.onExit(child, `cannot start the trainer (${python}): ${err.message}`, 'ERR_TRAINER_SPAWN'));
    child.once('close', (code, sig) => this.onExit(child, `exited with ${sig ?? code}`, 'ERR_TRAINER_CRASHED'));
    this.setRef(false);
    return child;
  }

  private onLine(line: string): void {
    let e: TrainerEvent;
    try {
      e = JSON.parse(line) as TrainerEvent;
    } catch {
      this.o.log?.debug({ line }, 'trainer printed a non-JSON line');
      return;
    }
    const p = this.pending;
    if (!p || e['id'] !== p.id) return;
    p.onEvent?.(e);
    if (e.event === 'result') p.resolve(e);
    else if (e.event === 'error') p.reject(trainerError(p.args[0] as string, e));
  }

  private onExit(child: ChildProcessWithoutNullStreams, how: string, code: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    const p = this.pending;
    if (!p) return;
    const tail = this.stderrTail.trim().split('\n').slice(-5).join(' | ');
    p.reject(new MagnetError(code, `trainer ${p.args[0]} ${how} and no result; stderr: ${tail}`));
  }

  private kill(): void {
    clearTimeout(this.idleTimer);
    this.child?.kill('SIGTERM');
  }

  /** With `idleMs`: the worker exits when no command came for that long (an unreferenced timer). */
  private idleAfter(): void {
    if (!this.o.idleMs) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      const child = this.child;
      if (this.pending || !child) return;
      this.child = undefined; // detached first: a command that comes while it exits starts a fresh worker
      child.kill('SIGTERM');
    }, this.o.idleMs);
    this.idleTimer.unref();
  }

  /** Referenced only while a command runs: an idle worker never keeps its parent process alive. */
  private setRef(on: boolean): void {
    const c = this.child;
    if (!c) return;
    for (const h of [c, c.stdin, c.stdout, c.stderr] as unknown as { ref?: () => void; unref?: () => void }[])
      (on ? h.ref : h.unref)?.call(h);
  }
}
