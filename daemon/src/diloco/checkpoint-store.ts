import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, copyFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MagnetError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import type { LatestPointer } from './outcome-repo.js';

/**
 * Removes a trainer output that will not be adopted, with the temporaries the trainer writes beside it
 * (`.<name>.<random>.tmp`, renamed onto the name when complete): a job cut mid-write leaves nothing behind.
 */
export function removeOutput(path: string): void {
  rmSync(path, { force: true });
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of names) if (f.startsWith(prefix) && f.endsWith('.tmp')) rmSync(join(dir, f), { force: true });
}

/**
 * Checkpoints by content hash in HOME/checkpoints. A checkpoint file only appears under its hash name once complete
 * (rename); which one is `latest` is kept in SQLite (OutcomeRepository).
 */
export class CheckpointStore {
  readonly dir: string;
  constructor(home: string) {
    this.dir = join(home, 'checkpoints');
    mkdirSync(this.dir, { recursive: true });
  }

  path(sha256: string): string {
    return join(this.dir, `${sha256}.safetensors`);
  }

  has(sha256: string): boolean {
    return existsSync(this.path(sha256));
  }

  /** Adopts a finished file (moved when possible) under its hash; returns the hash. */
  async adopt(file: string, expectSha256?: string): Promise<string> {
    const sha = await sha256File(file);
    if (expectSha256 && sha !== expectSha256) {
      throw new MagnetError('ERR_CHECKPOINT_HASH', `checkpoint ${file} hashes to ${sha}, expected ${expectSha256}`);
    }
    if (!this.has(sha)) {
      const tmp = `${this.path(sha)}.tmp`;
      try {
        renameSync(file, tmp);
      } catch {
        copyFileSync(file, tmp); // another filesystem
      }
      renameSync(tmp, this.path(sha));
    } else if (file !== this.path(sha)) {
      rmSync(file, { force: true });
    }
    return sha;
  }

  /** The pointer older nodes kept in latest.json (now in SQLite): read once, when the database has none. */
  legacyLatest(): LatestPointer | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, 'latest.json'), 'utf8')) as LatestPointer;
    } catch {
      return undefined;
    }
  }

  /** Removes half-written files a crash left (temp names only; complete files are only ever named by hash). */
  removeTemporaries(): string[] {
    const gone: string[] = [];
    for (const f of readdirSync(this.dir)) {
      if (f.includes('.tmp') || f.endsWith('.part')) {
        rmSync(join(this.dir, f), { force: true });
        gone.push(f);
      }
    }
    return gone;
  }
}
