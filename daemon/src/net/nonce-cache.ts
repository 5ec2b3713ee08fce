import { EnvelopeError } from './envelope-error.js';

export interface NonceCacheOptions {
  /** Most live nonces one peer may have (its own replay window); beyond it only that peer is refused. */
  perPeer?: number;
  /**
   * Peers whose nonces do not count against the shared pool (the network's members: their number is bounded by
   * the membership); everyone else shares `maxEntries`, so throwaway keys can never crowd a member out.
   */
  privileged?: (peer: string) => boolean;
}

interface PeerNonces {
  /** Counted in the shared pool (decided when the peer's first live nonce arrived). */
  pooled: boolean;
  seen: Map<string, number>;
  lastSweep: number;
}

/**
 * Remembers the nonces of requests whose signature verified, per peer, until their timestamp leaves the window,
 * so a replay inside the window is caught. Bounded twice: each peer holds at most `perPeer` live nonces, and the
 * peers that are not privileged share a pool of `maxEntries`. A full peer or a full pool refuses the new request
 * (never another peer's); expired entries are swept at most once a second per peer and once a second for the
 * pool, so a full cache costs a lookup per request, not a scan.
 */
export class NonceCache {
  private readonly byPeer = new Map<string, PeerNonces>();
  private readonly perPeer: number;
  private readonly privileged: (peer: string) => boolean;
  private pooled = 0;
  private total = 0;
  private lastSweep = -Infinity;

  constructor(
    private readonly maxEntries: number,
    opts: NonceCacheOptions = {},
  ) {
    this.perPeer = opts.perPeer ?? maxEntries;
    this.privileged = opts.privileged ?? (() => false);
  }

  /** false when `peer` already used `nonce` inside the window; throws EnvelopeError when there is no room for it. */
  add(peer: string, nonce: string, expiresAt: number, now: number): boolean {
    let p = this.byPeer.get(peer);
    const prev = p?.seen.get(nonce);
    if (prev !== undefined) {
      if (prev > now) return false;
      p?.seen.set(nonce, expiresAt); // an expired entry used again: same slot
      return true;
    }
    if (p && p.seen.size >= this.perPeer) {
      if (now - p.lastSweep >= 1000) this.sweepPeer(peer, p, now);
      if (p.seen.size >= this.perPeer)
        throw new EnvelopeError(
          'peer_nonce_limit',
          `${peer} has ${this.perPeer} requests in the replay window already (net.noncesPerPeer); slow down`,
          peer,
        );
      p = this.byPeer.get(peer); // the sweep drops a peer left with no entry
    }
    const pooled = p ? p.pooled : !this.privileged(peer);
    if (pooled && this.pooled >= this.maxEntries) {
      if (now - this.lastSweep >= 1000) this.sweep(now);
      if (this.pooled >= this.maxEntries)
        throw new EnvelopeError(
          'nonce_cache_full',
          `the nonce cache of non-member peers is full (${this.maxEntries} live entries, net.nonceCacheMax); try again later`,
          peer,
        );
      p = this.byPeer.get(peer); // the sweep may have dropped it
    }
    if (!p) {
      p = { pooled, seen: new Map(), lastSweep: now };
      this.byPeer.set(peer, p);
    }
    p.seen.set(nonce, expiresAt);
    this.total++;
    if (p.pooled) this.pooled++;
    return true;
  }

  /** Entries held, all peers together (expired ones linger until swept). */
  get size(): number {
    return this.total;
  }

  /** Entries counted in the shared pool of non-member peers. */
  get pooledSize(): number {
    return this.pooled;
  }

  /** Peers with at least one entry. */
  get peers(): number {
    return this.byPeer.size;
  }

  /** Drops every expired entry. */
  sweep(now: number): void {
    this.lastSweep = now;
    for (const [peer, p] of this.byPeer) this.sweepPeer(peer, p, now);
  }

  private sweepPeer(peer: string, p: PeerNonces, now: number): void {
    p.lastSweep = now;
    for (const [k, exp] of p.seen) {
      if (exp > now) continue;
      p.seen.delete(k);
      this.total--;
      if (p.pooled) this.pooled--;
    }
    if (p.seen.size === 0) this.byPeer.delete(peer);
  }
}
