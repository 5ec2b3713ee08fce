import { ipRange } from './admission.js';
import { RateLimiter } from '../util/limiters.js';
import { Refusal } from './refusal.js';

export interface CallLimitOptions {
  /** Calls per second one claimed nodeId may make from one IP range (token bucket refill). */
  controlRatePerSecond: number;
  /** Calls one claimed nodeId may make at once from one IP range (token bucket size). */
  controlBurst: number;
  /** Calls per second one IP range (/24 IPv4, /48 IPv6) may make, every key together. */
  ipRatePerSecond: number;
  ipBurst: number;
}

/**
 * The limits every call passes before anything costs this node work: before the signature is verified (a public
 * key recovery costs ~2 ms), before a nonce is stored, before a handler runs. Two token buckets:
 * - per claimed nodeId *and* IP range: the nodeId is unverified here, so the bucket is also keyed by where the
 *   call comes from; a forger elsewhere cannot drain an honest peer's bucket by claiming its nodeId;
 * - per IP range, all keys together: throwaway keys from one place share one budget.
 * A call the nodeId bucket refuses is not charged to the range, so one flooding key does not use up the budget of
 * the honest peers behind the same address (the loopback testnet, a NAT).
 */
export class CallLimiter {
  private readonly byPeer: RateLimiter;
  private readonly byRange: RateLimiter;

  constructor(private readonly opts: CallLimitOptions) {
    this.byPeer = new RateLimiter(opts.controlRatePerSecond, opts.controlBurst);
    this.byRange = new RateLimiter(opts.ipRatePerSecond, opts.ipBurst);
  }

  /** Throws Refusal('rate_limited' | 'ip_rate_limited') when the call is over a limit. */
  check(remote: string, claimed: string | undefined, now: number): void {
    const range = ipRange(remote);
    if (!this.byPeer.take(`${range}|${claimed ?? ''}`, now))
      throw new Refusal(
        'rate_limited',
        `more than ${this.opts.controlRatePerSecond} calls/s (burst ${this.opts.controlBurst}) from this nodeId`,
        claimed,
      );
    if (!this.byRange.take(range, now))
      throw new Refusal(
        'ip_rate_limited',
        `more than ${this.opts.ipRatePerSecond} calls/s (burst ${this.opts.ipBurst}) from ${range}, all keys together`,
        claimed,
      );
  }
}
