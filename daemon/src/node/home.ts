import { closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeSync, accessSync } from 'node:fs';
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
  get lockFile(): string {
    return join(this.root, 'daemon.lock');
  }
  /** Where the running daemon writes its HTTP address, so CLI commands find it from --home alone. */
  get apiFile(): string {
    return join(this.root, 'api.json');
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
      throw new MagnetError('ERR_HOME_UNWRITABLE', `the home directory ${this.root} is not a writable directory (${errorMessage(err)}); choose another with --home or MAGNET_HOME`, { home: this.root });
    }
  }

  /**
   * Takes the daemon lock: one daemon per home. A lock left by a dead process is taken over; a live one is refused.
   */
  lock(): () => void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockFile, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return () => {
          if (readPid(this.lockFile) === process.pid) rmSync(this.lockFile, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = readPid(this.lockFile);
        if (pid !== undefined && pid !== process.pid && isAlive(pid)) {
          throw new MagnetError('ERR_HOME_LOCKED', `another magnet-node daemon (pid ${pid}) is already running on ${this.root}; stop it first or use another --home`, { pid });
        }
        rmSync(this.lockFile, { force: true }); // stale lock from a process that died
      }
    }
    throw new MagnetError('ERR_HOME_LOCKED', `cannot take the lock ${this.lockFile}`);
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
