import type { Logger } from '../log/logger.js';
import type { MemberView } from '../membership/membership.js';
import { MagnetError } from '../util/errors.js';
import { sample } from '../util/sample.js';
import { admit } from './admission.js';
import type { PeerClient } from './client.js';
import type { CheckedHello } from './hello-check.js';
import type { NetMetrics } from './metrics.js';
import type { PeerBook, PeerRecord } from './peer-book.js';
import type { PeerInfoMsg } from './proto.js';
import { Refusal } from './refusal.js';

/** How often a live peer's heartbeat is written to the peer book (a change of tier or roles, or coming back, at once). */
const BOOK_HEARTBEAT_EVERY_MS = 60_000;

/** A peer as other parts see it: what the peer book records of it, and its liveness now. */
export interface NetPeer extends Pick<PeerRecord, 'nodeId' | 'address' | 'peerId' | 'grpcAddress' | 'multiaddrs' | 'tier' | 'roles'> {
  state: 'live' | 'stale';
  lastHeartbeat: number;
  /** A member of this network in this node's view (members may train, lead, vote, hold shards, push data). */
  member: boolean;
}

export interface NetEvents {
  'peer:new': [NetPeer];
  'peer:back': [NetPeer];
  'peer:stale': [NetPeer];
}

/** A peer in the table: what it said, the client pinned to its certificate, and its liveness. */
export interface Live {
  info: PeerInfoMsg;
  certPem: string;
  certSha256: Buffer;
  client: PeerClient;
  state: 'live' | 'stale';
  lastHeartbeat: number;
  failures: number;
  nextTry: number;
  lastExchange: number;
  /** Our last successful heartbeat to it (lastHeartbeat also counts the ones we receive). */
  lastSent: number;
  /** The last heartbeat it sent us. */
  lastBeatIn: number;
  /** The IP range it reached us from (peer admission caps non-members per range). */
  range: string;
  /** When alive() last wrote this peer's heartbeat to the peer book, and the tier and roles it wrote. */
  bookedAt: number;
  bookedAs: string;
}

export interface PeerTableDeps {
  self: { nodeId: string; address: string };
  members: MemberView;
  book: PeerBook;
  limits: () => { maxPeers: number; maxPeersPerIpRange: number; staleSeconds: number };
  log: Logger;
  metrics: NetMetrics;
  /** Pins go into the peer book only in pinned-TLS mode (a private cluster's CA vouches instead). */
  pinned: () => boolean;
  newClient: (nodeId: string, grpcAddress: string, certPem: string, certSha256: Buffer) => PeerClient;
  emit: (event: keyof NetEvents, peer: NetPeer) => void;
}

/**
 * The live peer table: who is known, pinned and live. Members always get a seat; others share a bounded pool
 * with a cap per IP range (admission.ts), and leave when silent. Every peer's tier is the registry's when a chain
 * says so, never only the one it declares.
 */
export class PeerTable {
  private readonly live = new Map<string, Live>();

  constructor(private readonly d: PeerTableDeps) {}

  get(nodeId: string): Live | undefined {
    return this.live.get(nodeId);
  }

  all(): Live[] {
    return [...this.live.values()];
  }

  /** Whether an authenticated nodeId is a member, with the wallet address its verified Hello showed, if any. */
  isMember(nodeId: string): boolean {
    if (nodeId === this.d.self.nodeId) return this.d.members.isMember(nodeId, this.d.self.address);
    const address = this.live.get(nodeId)?.info.address ?? this.d.book.get(nodeId)?.address;
    return this.d.members.isMember(nodeId, address);
  }

  /** The client of a known peer, or ERR_UNKNOWN_PEER naming the known ones. */
  client(nodeId: string): PeerClient {
    const l = this.live.get(nodeId);
    if (!l)
      throw new MagnetError('ERR_UNKNOWN_PEER', `${nodeId} is not a known peer (known: ${[...this.live.keys()].join(', ') || 'none'})`, {
        nodeId,
      });
    return l.client;
  }

  /**
   * Records a verified peer (pin on first contact) and, when it was heard from, marks it alive. A newcomer needs
   * a seat (seat()).
   */
  record(v: CheckedHello, heard: boolean, range: string): Live {
    const { info } = v;
    if (!this.live.has(info.nodeId)) this.seat(info, range);
    const pinned = this.d.pinned();
    this.d.book.upsert(
      {
        nodeId: info.nodeId,
        address: info.address,
        peerId: info.peerId,
        grpcAddress: info.grpcAddress,
        multiaddrs: info.multiaddrs,
        tier: info.tier,
        roles: info.roles,
        certSha256: pinned ? v.certSha256.toString('hex') : null,
        certPem: pinned ? v.certPem : null,
      },
      Date.now(),
    );
    let l = this.live.get(info.nodeId);
    if (!l || l.info.grpcAddress !== info.grpcAddress || !l.certSha256.equals(v.certSha256)) {
      l?.client.close();
      const fresh = this.entry(info, v.certPem, v.certSha256, l?.range ?? range, l?.lastHeartbeat ?? 0);
      const isNew = !l;
      this.live.set(info.nodeId, fresh);
      l = fresh;
      if (isNew && !heard) return l;
    } else l.info = info;
    if (heard) this.alive(l);
    return l;
  }

  /** A member from the book after a restart: known, pinned, not yet heard from (others must greet us again). */
  restore(rec: PeerRecord): void {
    if (!rec.certPem || !rec.certSha256 || this.live.has(rec.nodeId) || !this.d.members.isMember(rec.nodeId, rec.address)) return;
    const info: PeerInfoMsg = {
      nodeId: rec.nodeId,
      address: rec.address,
      peerId: rec.peerId,
      multiaddrs: rec.multiaddrs,
      grpcAddress: rec.grpcAddress,
      tier: rec.tier,
      roles: rec.roles,
      version: '',
      networkId: '', // unknown until it greets us again (its Hello is checked then)
    };
    this.live.set(rec.nodeId, this.entry(info, rec.certPem, Buffer.from(rec.certSha256, 'hex'), 'restored', 0));
  }

  /** A peer we heard from: live again, with the events and log line of a newcomer or a returning peer. */
  alive(l: Live): void {
    const wasNew = l.lastHeartbeat === 0;
    const was = l.state;
    l.lastHeartbeat = Date.now();
    l.failures = 0;
    l.state = 'live';
    // The book is what a restart remembers (and what `peers` lists), not what liveness reads (that is in memory): one
    // write a minute per peer is enough, and a SQLite write per heartbeat was a visible part of an idle node's CPU.
    const as = `${l.info.tier} ${l.info.roles.join(',')}`;
    if (was !== 'live' || as !== l.bookedAs || l.lastHeartbeat - l.bookedAt >= BOOK_HEARTBEAT_EVERY_MS) {
      this.d.book.heartbeat(l.info.nodeId, l.info.tier, l.info.roles, l.lastHeartbeat);
      l.bookedAt = l.lastHeartbeat;
      l.bookedAs = as;
    }
    this.updateGauge();
    if (was === 'stale') {
      this.d.log.info({ peer: l.info.nodeId, grpc: l.info.grpcAddress }, wasNew ? 'new peer' : 'peer is back');
      this.d.emit(wasNew ? 'peer:new' : 'peer:back', this.toNetPeer(l));
    }
  }

  /**
   * A peer that failed a heartbeat or closed its connection is stale at once, not after net.staleSeconds of silence:
   * parts stop counting on it now, and it is greeted again when it answers.
   */
  down(l: Live, why: string): void {
    if (l.state !== 'live') return;
    l.state = 'stale';
    this.d.log.warn({ peer: l.info.nodeId, why }, 'peer is down');
    this.d.emit('peer:stale', this.toNetPeer(l));
    this.updateGauge();
  }

  /** Marks silent peers stale; a non-member silent for twice the stale time leaves the table (members stay: they are few and expected back). */
  sweep(now: number): void {
    const staleMs = this.d.limits().staleSeconds * 1000;
    for (const l of [...this.live.values()]) {
      if (l.state === 'live' && now - l.lastHeartbeat > staleMs) {
        l.state = 'stale';
        this.d.log.warn({ peer: l.info.nodeId, lastHeartbeat: new Date(l.lastHeartbeat).toISOString() }, 'peer is stale');
        this.d.emit('peer:stale', this.toNetPeer(l));
      }
      if (l.state === 'stale' && !this.isMember(l.info.nodeId) && now - Math.max(l.lastHeartbeat, l.lastSent) > 2 * staleMs)
        this.drop(l.info.nodeId, 'silent');
    }
    this.updateGauge();
  }

  /** Removes a peer from the table and closes its client (its pin stays in the peer book). */
  remove(nodeId: string): Live | undefined {
    const l = this.live.get(nodeId);
    l?.client.close();
    this.live.delete(nodeId);
    this.updateGauge();
    return l;
  }

  /** Closes every client and empties the table (the node stops). */
  clear(): void {
    for (const l of this.live.values()) l.client.close();
    this.live.clear();
  }

  /**
   * Peer exchange: members first (they are who a newcomer needs), then the others, each group a fresh random sample.
   * A fixed order (the table's, by arrival) handed every asker the same first `limit` peers, so with more peers than
   * that the latest arrivals were never passed on: of 50 daemons on loopback one stayed at 30 live peers for minutes.
   */
  livePeers(limit: number, except: string): PeerInfoMsg[] {
    const live = [...this.live.values()].filter((l) => l.state === 'live' && l.info.nodeId !== except);
    const members = live.filter((l) => this.isMember(l.info.nodeId));
    const others = live.filter((l) => !this.isMember(l.info.nodeId));
    return [...sample(members, limit), ...sample(others, limit - Math.min(limit, members.length))].map((l) => l.info);
  }

  toNetPeer(l: Live): NetPeer {
    const i = l.info;
    // With a chain, the tier is the registry's, not the one the peer declares.
    const tier = this.d.members.tierOf(i.nodeId) ?? i.tier;
    return {
      nodeId: i.nodeId,
      address: i.address,
      peerId: i.peerId,
      grpcAddress: i.grpcAddress,
      multiaddrs: i.multiaddrs,
      tier,
      roles: i.roles,
      state: l.state,
      lastHeartbeat: l.lastHeartbeat,
      member: this.isMember(i.nodeId),
    };
  }

  /** Makes room for a newcomer or refuses it (peer_table_full, ip_range_full); the peer book keeps a bounded past. */
  private seat(info: PeerInfoMsg, range: string): void {
    const now = Date.now();
    const limits = this.d.limits();
    const idleMs = limits.staleSeconds * 1000;
    const seats = [...this.live.values()].map((l) => {
      const lastSeen = Math.max(l.lastHeartbeat, l.lastSent);
      // A peer shown down at once (a failed heartbeat) keeps its seat until it has been silent for the stale time, as
      // before: else identities that never answer a heartbeat would free their seats for the next ones of a flood.
      return {
        nodeId: l.info.nodeId,
        member: this.isMember(l.info.nodeId),
        range: l.range,
        lastSeen,
        live: l.state === 'live' || now - lastSeen <= idleMs,
      };
    });
    const member = this.d.members.isMember(info.nodeId, info.address);
    const a = admit({ member, range }, seats, { maxStrangers: limits.maxPeers, maxPerRange: limits.maxPeersPerIpRange, idleMs }, now);
    if (!a.ok) throw new Refusal(a.reason, a.detail, info.nodeId);
    if (a.evict) this.drop(a.evict, 'evicted for a newcomer');
    if (!member) this.d.book.prune((id) => this.isMember(id), limits.maxPeers * 4);
  }

  /** Removes a non-member from the live table (its pin stays in the peer book). */
  private drop(nodeId: string, why: string): void {
    if (!this.remove(nodeId)) return;
    this.d.log.info({ peer: nodeId, why }, 'peer dropped from the live table');
  }

  private entry(info: PeerInfoMsg, certPem: string, certSha256: Buffer, range: string, lastHeartbeat: number): Live {
    return {
      info,
      certPem,
      certSha256,
      client: this.d.newClient(info.nodeId, info.grpcAddress, certPem, certSha256),
      state: 'stale',
      lastHeartbeat,
      failures: 0,
      nextTry: 0,
      lastExchange: 0,
      lastSent: 0,
      lastBeatIn: 0,
      range,
      bookedAt: 0,
      bookedAs: '',
    };
  }

  private updateGauge(): void {
    let live = 0;
    for (const l of this.live.values()) if (l.state === 'live') live++;
    this.d.metrics.peers.set({ state: 'live' }, live);
    this.d.metrics.peers.set({ state: 'stale' }, this.live.size - live);
  }
}
