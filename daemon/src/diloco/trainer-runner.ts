import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../log/logger.js';
import { MagnetError } from '../util/errors.js';
import { REPO_ROOT } from '../version.js';

/** One JSON line of the trainer's stdout protocol (python/magnet_trainer/protocol.py). */
export interface TrainerEvent {
  event: 'start' | 'progress' | 'result' | 'error' | string;
  [field: string]: unknown;
}

export interface TrainerRunOptions {
  /** Python interpreter (config diloco.python, env MAGNET_PYTHON); empty or absent: the repository's .venv. */
  python?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  log?: Logger;
  onEvent?: (e: TrainerEvent) => void;
}

/** The interpreter the daemon runs the trainer with: the configured one (diloco.python), else the repository's .venv. */
export function trainerPython(configured = ''): string {
  if (configured) return configured;
  const venv = join(REPO_ROOT, '.venv', 'bin', 'python');
  if (existsSync(venv)) return venv;
  throw new MagnetError(
    'ERR_TRAINER_MISSING',
    `no Python trainer: ${venv} does not exist; run "bash python/install.sh" or set diloco.python (MAGNET_PYTHON)`,
  );
}

/**
 * Runs `python -m magnet_trainer <args>` and resolves with its `result` event. A trainer `error` event becomes a
 * MagnetError with code `ERR_TRAINER_<CODE>`; a crash without one becomes ERR_TRAINER_CRASHED. Abort kills it.
 */
export function runTrainer(args: string[], opts: TrainerRunOptions = {}): Promise<TrainerEvent> {
  const python = trainerPython(opts.python);
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', 'magnet_trainer', ...args], {
      cwd: join(REPO_ROOT, 'python'),
      env: { ...(opts.env ?? process.env), PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let result: TrainerEvent | undefined;
    let error: TrainerEvent | undefined;
    let stderrTail = '';
    const onAbort = () => child.kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let e: TrainerEvent;
      try {
        e = JSON.parse(line) as TrainerEvent;
      } catch {
        opts.log?.debug({ line }, 'trainer printed a non-JSON line');
        return;
      }
      if (e.event === 'result') result = e;
      else if (e.event === 'error') error = e;
      opts.onEvent?.(e);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString()).slice(-4000);
    });
    child.once('error', (err) => reject(new MagnetError('ERR_TRAINER_SPAWN', `cannot start the trainer (${python}): ${err.message}`)));
    child.once('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (code === 0 && result) return resolve(result);
      if (opts.signal?.aborted) return reject(trainerAborted(args[0] as string));
      if (error) return reject(trainerError(args[0] as string, error));
      reject(
        new MagnetError(
          'ERR_TRAINER_CRASHED',
          `trainer ${args[0]} exited with ${sig ?? code} and no result; stderr: ${stderrTail.trim().split('\n').slice(-5).join(' | ')}`,
        ),
      );
    });
  });
}

/** A trainer `error` event as the MagnetError the daemon branches on: code ERR_TRAINER_<CODE>. */
export function trainerError(command: string, error: TrainerEvent): MagnetError {
  const code = String(error['code'] ?? 'internal').toUpperCase();
  return new MagnetError(`ERR_TRAINER_${code}`, `trainer ${command} failed: ${String(error['message'] ?? 'no message')}`, {
    trainer: error,
  });
}

/** A command stopped by its abort signal or by the node shutting down. */
export function trainerAborted(command: string): MagnetError {
  return new MagnetError('ERR_TRAINER_ABORTED', `trainer ${command} stopped: the node is shutting down`);
}
