import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log/logger.js';
import { ConcurrencyLimiter, RateLimiter } from '../util/limiters.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { bearerToken } from './admin-token.js';
import { type GateRefusal, type RequestGate, remoteAddress } from './gate.js';

export interface PublicLimits {
  /** Requests per minute per client (its API key when keys are in force, else its IP address). */
  ratePerMinute: number;
  /** Requests a client may send at once above the rate (the bucket's size). */
  burst: number;
  /** Requests one client may have in flight at once. */
  maxInFlight: number;
}

/** One configured API key: a name for logs and metrics, and the sha256 of the key (the key itself is not kept). */
interface ApiKey {
  name: string;
  sha256: string;
}

/**
 * Parses an API key file: one key per line, `NAME KEY` or just `KEY` (then named key-N); `#` starts a comment.
 * Keys shorter than 16 characters are refused (a short key is guessable at the per-IP rate).
 */
export function parseApiKeys(text: string, file: string): ApiKey[] {
  const keys: ApiKey[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    if (parts.length > 2) throw new MagnetError('ERR_API_KEYS', `${file}:${i + 1}: expected "NAME KEY" or "KEY"`);
    const key = parts[parts.length - 1] as string;
    if (key.length < 16) throw new MagnetError('ERR_API_KEYS', `${file}:${i + 1}: API key is shorter than 16 characters`);
    keys.push({ name: parts.length === 2 ? (parts[0] as string) : `key-${keys.length + 1}`, sha256: sha256(key) });
  });
  return keys;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

const refuse = (status: number, message: string, type: string, headers?: Record<string, string>): { refuse: GateRefusal } => ({
  refuse: { status, message, type, ...(headers ? { headers } : {}) },
});

/**
 * The public listener's checks: an API key when a key file is configured (re-read when it changes, so keys are
 * added and revoked without a restart), then rate and in-flight limits per client: per key, or per IP address when
 * the API takes no keys. Health probes (`open` routes) pass without either.
 */
export class PublicGate implements RequestGate {
  private readonly rate: RateLimiter;
  private readonly inFlight: ConcurrencyLimiter;
  private keys: Map<string, string> | undefined;
  private keysMtimeMs = -1;
  private keysCheckedAt = 0;

  constructor(
    private readonly limits: PublicLimits,
    private readonly keysFile: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.rate = new RateLimiter(limits.ratePerMinute / 60, limits.burst);
    this.inFlight = new ConcurrencyLimiter(limits.maxInFlight);
    if (keysFile) this.reloadKeys(true);
  }

  /** Number of API keys in force (undefined: no key file, the API is open to anyone within the per-IP limits). */
  get keyCount(): number | undefined {
    return this.keys?.size;
  }

  admit(req: IncomingMessage, routed: { open: boolean } | undefined): { refuse: GateRefusal } | { release?: () => void } {
    if (!routed || routed.open) return {};
    // The client is its API key when keys are in force (many clients may share one address behind a NAT), else its
    // IP address.
    let client = `ip:${remoteAddress(req)}`;
    if (this.keysFile) {
      this.reloadKeys(false);
      const presented = bearerToken(req.headers.authorization);
      if (presented === undefined) return refuse(401, 'this API needs a key: send "Authorization: Bearer KEY"', 'authentication_error');
      const name = this.keys?.get(sha256(presented));
      if (name === undefined) return refuse(401, 'the API key is not valid', 'authentication_error');
      client = `key:${name}`;
    }
    // In-flight first: a request refused for that spends none of the client's rate.
    const release = this.inFlight.acquire(client);
    if (!release)
      return refuse(429, `more than ${this.limits.maxInFlight} requests in flight from ${client}`, 'rate_limit_error', {
        'retry-after': '1',
      });
    if (!this.rate.take(client, this.now())) {
      release();
      return refuse(429, `rate limit: more than ${this.limits.ratePerMinute} requests/minute from ${client}`, 'rate_limit_error', {
        'retry-after': String(Math.max(1, Math.ceil(60 / this.limits.ratePerMinute))),
      });
    }
    return { release };
  }

  /** Re-reads the key file when its mtime changed (checked at most once a second); a broken file keeps the old keys. */
  private reloadKeys(first: boolean): void {
    const now = this.now();
    if (!first && now - this.keysCheckedAt < 1000) return;
    this.keysCheckedAt = now;
    try {
      const mtime = statSync(this.keysFile).mtimeMs;
      if (mtime === this.keysMtimeMs) return;
      const keys = parseApiKeys(readFileSync(this.keysFile, 'utf8'), this.keysFile);
      this.keys = new Map(keys.map((k) => [k.sha256, k.name]));
      this.keysMtimeMs = mtime;
      if (!first) this.log.info({ keys: keys.length }, 'API keys reloaded');
    } catch (err) {
      if (first)
        throw err instanceof MagnetError
          ? err
          : new MagnetError('ERR_API_KEYS', `cannot read the API key file ${this.keysFile}: ${errorMessage(err)}`);
      this.log.warn({ err: errorMessage(err) }, 'API key file unreadable; the keys loaded before stay in force');
    }
  }
}
