import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { MagnetError, errorMessage } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';

/** 32 random bytes as hex: the admin listener's bearer token. */
const TOKEN_BYTES = 32;
const TOKEN_RE = /^[0-9a-f]{64}$/;

/**
 * Reads the admin token from `file`, creating it (mode 0600, written atomically) on first start. A token file
 * others can read is narrowed to 0600 rather than refused: the node's home is the operator's, and the token only
 * guards this machine's loopback listener.
 */
export function loadOrCreateAdminToken(file: string): string {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new MagnetError('ERR_ADMIN_TOKEN', `cannot read the admin token ${file}: ${errorMessage(err)}`);
  }
  if (text === undefined) {
    const token = randomBytes(TOKEN_BYTES).toString('hex');
    writeFileAtomic(file, `${token}\n`, 0o600);
    return token;
  }
  if (!TOKEN_RE.test(text))
    throw new MagnetError(
      'ERR_ADMIN_TOKEN',
      `${file} does not hold an admin token (64 hex digits); delete it and a new one is made at start`,
    );
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return text;
}

/** Reads the token a CLI command presents (the daemon made it at start). */
export function readAdminToken(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new MagnetError(
      'ERR_ADMIN_TOKEN',
      `cannot read the admin token ${file} (${errorMessage(err)}); run the command as the user that runs the daemon`,
    );
  }
  return text;
}

/** Constant-time comparison of a presented bearer token with the expected one. */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer TOKEN` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}
