import { isIP } from 'node:net';

/** A peer in the live table, as admission sees it. */
export interface Seat {
  nodeId: string;
  member: boolean;
  /** The /24 (IPv4) or /48 (IPv6) it calls from. */
  range: string;
  /** Last time we heard from it (hello, heartbeat, or our heartbeat answered). */
  lastSeen: number;
  live: boolean;
}

export type Admission = { ok: true; evict?: string } | { ok: false; reason: 'peer_table_full' | 'ip_range_full'; detail: string };

export interface AdmissionLimits {
  /** Most non-members in the live table. */
  maxStrangers: number;
  /** Most non-members from one IP range. */
  maxPerRange: number;
  /** A non-member silent this long may be evicted for a newcomer. */
  idleMs: number;
}

/**
 * Who gets a seat in the live peer table. Members always do (their number is bounded by the membership). Strangers
 * share a bounded pool, at most a few per IP range, so throwaway identities from one machine cannot lock honest
 * newcomers out; when the pool or the range is full, the stranger heard from least recently is evicted if it has
 * been idle, else the newcomer is refused.
 */
export function admit(
  newcomer: { member: boolean; range: string },
  seats: Iterable<Seat>,
  limits: AdmissionLimits,
  now: number,
): Admission {
  if (newcomer.member) return { ok: true };
  const strangers = [...seats].filter((s) => !s.member);
  const idle = (s: Seat) => !s.live || now - s.lastSeen > limits.idleMs;
  const oldestIdle = (xs: Seat[]) => xs.filter(idle).sort((a, b) => a.lastSeen - b.lastSeen)[0];
  const sameRange = strangers.filter((s) => s.range === newcomer.range);
  if (sameRange.length >= limits.maxPerRange) {
    const out = oldestIdle(sameRange);
    if (!out)
      return { ok: false, reason: 'ip_range_full', detail: `${limits.maxPerRange} non-member peers from ${newcomer.range} already` };
    return { ok: true, evict: out.nodeId };
  }
  if (strangers.length >= limits.maxStrangers) {
    const out = oldestIdle(strangers);
    if (!out) return { ok: false, reason: 'peer_table_full', detail: `${limits.maxStrangers} non-member peers already, all active` };
    return { ok: true, evict: out.nodeId };
  }
  return { ok: true };
}

/** The address range of a gRPC peer string ("ipv4:1.2.3.4:5678", "ipv6:[::1]:5678") or a bare IP: /24 or /48. */
export function ipRange(peer: string): string {
  const m = /^(?:ipv4:|ipv6:)?\[?([^\]]+?)\]?(?::\d+)?$/.exec(peer.trim());
  const ip = m?.[1] ?? peer;
  if (isIP(ip) === 4) return ip.split('.').slice(0, 3).join('.') + '.0/24';
  if (isIP(ip) === 6) {
    const v4 = /::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    if (v4) return ipRange(v4[1] as string);
    const groups = expandV6(ip);
    return groups.slice(0, 3).join(':') + '::/48';
  }
  return `other:${peer.slice(0, 64)}`;
}

function expandV6(ip: string): string[] {
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') && tail ? tail.split(':') : [];
  const fill = ip.includes('::') ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}
