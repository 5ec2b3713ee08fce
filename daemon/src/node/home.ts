import Database from 'better-sqlite3';
import { accessSync, constants, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { MagnetError, errorMessage } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

export const defaultHome = (): string => join(homedir(), '.magnet');

/** The files of a node's home directory, in one place. */
export class HomeDir {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }
  get keystore(): string {
    return join(this.root, 'keystore.json');
  }
  get database(): string {
    return join(this.root, 'state.db');
  }
  /** The pid of the daemon holding the home (written once it holds the OS lock, removed when it lets go). */
  get lockFile(): string {
    return join(this.root, 'daemon.lock');
  }
  /** The file the OS lock is held on (an empty SQLite database; never removed, so every daemon locks the same inode). */
  get osLockFile(): string {
    return join(this.root, 'home.lock');
  }
  /** Where the running daemon writes its HTTP addresses, so CLI commands find it from --home alone. */
  get apiFile(): string {
    return join(this.root, 'api.json');
  }
  /** The admin listener's bearer token (mode 0600; the CLI reads it to call the daemon). */
  get adminTokenFile(): string {
    return join(this.root, 'admin.token');
  }
  sub(name: string): string {
    return join(this.root, name);
  }

  /** Creates the directory (0700) and checks that it is writable. */
  ensure(): void {
    try {
      mkdirSync(this.root, { recursive: true, mode: 0o700 });
      accessSync(this.root, constants.W_OK);
      const probe = join(this.root, `.write-test-${process.pid}`);
      writeFileAtomic(probe, 'ok');
      rmSync(probe, { force: true });
    } catch (err) {
      throw new MagnetError(
        'ERR_HOME_UNWRITABLE',
        `the home directory ${this.root} is not a writable directory (${errorMessage(err)}); choose another with --home or MAGNET_HOME`,
        { home: this.root },
      );
    }
  }

  /**
   * Takes the daemon lock for this process's life: one daemon per home. The lock is an exclusive SQLite lock (a POSIX
   * record lock) on `home.lock`, which the kernel drops when the process dies however it dies, so a crashed daemon
   * never blocks the next start and two daemons starting at the same moment cannot both win. The holder then writes
   * its pid to `daemon.lock` (for the refusal message only; the OS lock decides). Returns the release.
   */
  lock(): () => void {
    let db: Database.Database | undefined;
    try {
      db = new Database(this.osLockFile, { timeout: 0 });
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      db?.close();
      if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
      const pid = this.holderPid();
      const who = pid === undefined ? 'another magnet-node daemon' : `another magnet-node daemon (pid ${pid})`;
      throw new MagnetError(
        'ERR_HOME_LOCKED',
        `home ${this.root} is in use by ${pid === undefined ? 'another process' : `pid ${pid}`}: ${who} is already running on it; stop it first or use another --home`,
        pid === undefined ? {} : { pid },
      );
    }
    const held = db;
    writeFileAtomic(this.lockFile, String(process.pid));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (readPid(this.lockFile) === process.pid) rmSync(this.lockFile, { force: true });
      held.close(); // ends the transaction and drops the OS lock
    };
  }

  /** The pid the lock holder wrote; it writes it just after taking the lock, so a racing loser waits a moment for it. */
  private holderPid(): number | undefined {
    const until = Date.now() + 2000;
    for (;;) {
      const pid = readPid(this.lockFile);
      if ((pid !== undefined && pid !== process.pid && isAlive(pid)) || Date.now() > until) return pid;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
