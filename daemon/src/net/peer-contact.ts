import * as grpc from '@grpc/grpc-js';
import type { PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import type { Libp2p } from 'libp2p';
import type { NetOptions } from './options.js';
import type { Logger } from '../log/logger.js';
import { errorMessage, isMagnetError } from '../util/errors.js';
import { sample } from '../util/sample.js';
import { ipRange } from './admission.js';
import { RpcError } from './client.js';
import { decodeOr } from './guard.js';
import type { CheckedHello } from './hello-check.js';
import { nodeIdOfPeer } from './host.js';
import { fetchHello } from './libp2p-hello.js';
import type { NetMetrics } from './metrics.js';
import type { Live } from './peer-table.js';
import type { Peers } from './peers.js';
import { codecs, type HelloMsg } from './proto.js';
import { Refusal } from './refusal.js';

export interface PeerContactDeps {
  config: NetOptions;
  peers: Peers;
  self: { nodeId: string; tier: string; roles: string[] };
  log: Logger;
  metrics: NetMetrics;
  /** The libp2p host while the net part runs. */
  host: () => Libp2p | undefined;
  /** False once the net part stops: answers arriving afterwards are dropped. */
  running: () => boolean;
  selfHello: () => HelloMsg;
  checkHello: (nodeId: string, msg: HelloMsg) => CheckedHello;
}

/**
 * How this node keeps in touch with its peers: a peer found over libp2p is greeted (its signed hello fetched over
 * libp2p and checked, then Hello over gRPC and a peer exchange); live peers get heartbeats; stale ones are greeted
 * again after a backoff. One call at a time per peer, in the background: a peer that does not answer holds only
 * its own call until the deadline.
 */
export class PeerContact {
  private readonly pending = new Set<string>();
  private readonly startedAt = Date.now();
  /** When the last round of peer exchange began (every 2 s in the first minute, then every heartbeat period). */
  private lastExchange = 0;
  /** The last time this node, cut off, tried to rejoin on its own (rejoin()), and since when it is cut off (0: not). */
  private lastRejoin = Date.now();
  private cutSince = 0;
  private seq = 0;

  constructor(private readonly d: PeerContactDeps) {}

  /** libp2p found a magnet peer: fetch its signed hello over libp2p, check it, say Hello over gRPC, exchange peers. */
  async discover(peerId: PeerId): Promise<void> {
    const nodeId = nodeIdOfPeer(peerId);
    const host = this.d.host();
    if (!nodeId || nodeId === this.d.self.nodeId || this.pending.has(nodeId) || !host) return;
    this.pending.add(nodeId);
    try {
      const bytes = await fetchHello(host, peerId, this.d.config.maxControlBytes, 5000);
      const v = this.d.checkHello(nodeId, decodeOr(codecs.HelloResponse.decode, bytes, 'libp2p hello', nodeId));
      const l = this.d.peers.table.record(v, false, ipRange(remoteIp(host.getConnections(peerId)[0]?.remoteAddr.toString() ?? '')));
      await this.greet(l);
    } catch (err) {
      this.peerFailed(nodeId, 'libp2p:hello', err);
    } finally {
      this.pending.delete(nodeId);
    }
  }

  /**
   * Greets a peer still connected over libp2p again (e.g. after its pin was forgotten), so its certificate is pinned
   * now; false when it has no connection.
   */
  rediscover(nodeId: string): boolean {
    for (const conn of this.d.host()?.getConnections() ?? []) {
      if (nodeIdOfPeer(conn.remotePeer) === nodeId) {
        void this.discover(conn.remotePeer);
        return true;
      }
    }
    return false;
  }

  /** libp2p lost its last connection to a peer (a clean stop closes them): heartbeat it now to learn whether it is down. */
  disconnected(peerId: PeerId): void {
    const nodeId = nodeIdOfPeer(peerId);
    const l = nodeId ? this.d.peers.table.get(nodeId) : undefined;
    if (l && l.state === 'live' && (this.d.host()?.getConnections(peerId).length ?? 0) === 0) l.lastSent = 0;
  }

  /**
   * Heartbeats due peers, re-greets stale ones after their backoff, marks silent ones stale. Peer exchange: while the
   * network forms (this node's first minute) with FORMING_FANOUT live peers every 2 s, then with one live peer per
   * heartbeat period, each time those asked longest ago: a peer that joins later dials us itself (and asks its own
   * contacts), so the exchange only has to catch what that missed. Asking every peer instead costs N signed calls
   * each way: every 2 s, N nodes forming at once make N^2 calls (50 daemons on two cores never formed their mesh), and
   * every period it was the largest part of an idle node's CPU.
   */
  tick(now: number): void {
    const hbMs = this.d.config.heartbeatSeconds * 1000;
    const table = this.d.peers.table;
    const all = table.all();
    const forming = now - this.startedAt < 60_000;
    const asked = new Set<Live>();
    if (now - this.lastExchange >= (forming ? FORMING_EVERY_MS : hbMs)) {
      const due = all
        .filter((l) => l.state === 'live' && !this.pending.has(l.info.nodeId) && l.nextTry <= now)
        .sort((a, b) => a.lastExchange - b.lastExchange)
        .slice(0, forming ? FORMING_FANOUT : 1);
      for (const l of due) asked.add(l);
      if (due.length > 0) this.lastExchange = now;
    }
    for (const l of all) {
      if (this.pending.has(l.info.nodeId) || l.nextTry > now) continue;
      const beat = now - l.lastSent >= hbMs - 500 && !this.answered(l, now, hbMs);
      const exchange = asked.has(l);
      if (!beat && !exchange) continue;
      this.pending.add(l.info.nodeId);
      void this.contact(l, beat, exchange).finally(() => this.pending.delete(l.info.nodeId));
    }
    table.sweep(Date.now());
    this.rejoin(now, all);
  }

  /**
   * A node cut off from the network tries again on its own every ISOLATED_RETRY_MS: it greets the peers it is
   * connected to but does not know, and dials its bootstrap list and a few peers from its peer book again. Cut off
   * means no live peer, or, where the network has members, no live member: a few strangers can find each other
   * (one bootstrapped from another while both were alone) and exchange peer lists among themselves for good, hearing
   * of no round (the likely reason one light node of 50 stayed on genesis for a whole churn run). Before, nothing tried
   * again, since mDNS and the DHT are off by default: 20 of 50 daemons started together on two cores never had a peer.
   */
  private rejoin(now: number, all: Live[]): void {
    const host = this.d.host();
    if (!host || now - this.lastRejoin < ISOLATED_RETRY_MS) return;
    const peers = this.d.peers;
    const live = all.filter((l) => l.state === 'live');
    const reachesMembers = !peers.hasOtherMembers() || live.some((l) => peers.isMember(l.info.nodeId));
    if (live.length > 0 && reachesMembers) {
      this.cutSince = 0;
      return;
    }
    this.lastRejoin = now;
    for (const c of host.getConnections()) {
      const nodeId = nodeIdOfPeer(c.remotePeer);
      if (nodeId && !peers.table.get(nodeId)) void this.discover(c.remotePeer);
    }
    const liveIds = new Set(live.map((l) => l.info.nodeId));
    const known = peers.book
      .all()
      .filter((r) => !liveIds.has(r.nodeId) && r.nodeId !== this.d.self.nodeId)
      .map((r) => r.multiaddrs.find((a) => a.includes('/p2p/')))
      .filter((a): a is string => a !== undefined);
    const addrs = [...this.d.config.bootstrap, ...sample(known, BOOK_REDIALS)];
    if (this.cutSince === 0) {
      this.cutSince = now;
      this.d.log.warn(
        { live: live.length, bootstrap: this.d.config.bootstrap.length, known: known.length },
        `no live ${live.length === 0 ? 'peer' : 'member'}: greeting connections and dialling the bootstrap list and known peers every ${ISOLATED_RETRY_MS / 1000} s`,
      );
    }
    for (const a of addrs) host.dial(multiaddr(a), { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
  }

  /**
   * Whether this node may skip a due heartbeat to a live peer `l` (a stale one is greeted as before): one answered
   * heartbeat per pair and period shows both ends alive (the answer is signed by the peer over our nonce), so of two
   * nodes the one with the higher nodeId skips its own while the peer's keep arriving (the last within a period and a
   * half), but still sends every fourth period, so its own channel to the peer stays checked and its tier and roles
   * stay fresh there. The peer's heartbeats stopping brings this node's back within two periods (far inside
   * net.staleSeconds); a closed connection (disconnected()) brings one at once. A peer that heartbeats every period
   * regardless (an older version) loses nothing.
   */
  private answered(l: Live, now: number, hbMs: number): boolean {
    return l.state === 'live' && this.d.self.nodeId > l.info.nodeId && now - l.lastBeatIn < hbMs * 1.5 && now - l.lastSent < 4 * hbMs - 500;
  }

  /** gRPC Hello to a peer (re-checking its answer against what we know), then peer exchange. */
  private async greet(l: Live): Promise<void> {
    const answer = await l.client.hello(this.d.selfHello());
    const v = this.d.checkHello(l.info.nodeId, answer);
    if (!v.certSha256.equals(l.certSha256))
      throw new Refusal('cert_pin_mismatch', `${l.info.nodeId} answered Hello with another certificate than it announced`, l.info.nodeId);
    this.d.peers.table.record(v, true, l.range);
    await this.exchange(l);
  }

  /**
   * Peer exchange: dial (over libp2p) the live peers a peer knows and we do not. One already connected is greeted
   * directly: libp2p greets a peer once per connection (on identify), so a greeting that failed (a 5 s deadline on a
   * loaded machine) left it connected and unknown for good, since dialling it again opens no new connection: of 50
   * daemons started together on two cores, a few stayed 4-6 peers short of the mesh.
   */
  private async exchange(l: Live): Promise<void> {
    l.lastExchange = Date.now();
    const { peers } = await l.client.getPeers(32);
    const host = this.d.host();
    if (!host) return;
    let connected: Map<string, PeerId> | undefined; // nodeId -> libp2p peer, built once, when first needed
    for (const p of peers) {
      if (p.nodeId === this.d.self.nodeId || this.d.peers.table.get(p.nodeId)?.state === 'live') continue;
      connected ??= new Map(host.getConnections().map((c) => [nodeIdOfPeer(c.remotePeer) ?? '', c.remotePeer]));
      const peerId = connected.get(p.nodeId);
      if (peerId) {
        if (!this.d.peers.table.get(p.nodeId)) void this.discover(peerId);
        continue;
      }
      const addr = p.multiaddrs.find((a) => a.includes('/p2p/'));
      if (addr) host.dial(multiaddr(addr), { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    }
  }

  private peerFailed(nodeId: string, method: string, err: unknown): void {
    const l = this.d.peers.table.get(nodeId);
    if (l) {
      l.failures += 1;
      l.nextTry = Date.now() + Math.min(60_000, 1000 * 2 ** Math.min(l.failures, 6));
      this.d.peers.book.failure(nodeId);
    }
    if (err instanceof Refusal) this.d.peers.refused(method, nodeId, err.reason, err.message);
    else if (isMagnetError(err, 'ERR_CERT_PIN')) this.d.peers.refused(method, nodeId, 'cert_pin_mismatch', err.message);
    else this.d.log.debug({ peer: nodeId, method, err: errorMessage(err) }, 'peer call failed');
  }

  /** One peer's turn: greet it when stale, else heartbeat and/or exchange peers. Never throws. */
  private async contact(l: Live, beat: boolean, exchange: boolean): Promise<void> {
    try {
      if (l.state === 'stale') await this.greet(l);
      else {
        if (beat) {
          await l.client.heartbeat({ seq: ++this.seq, tier: this.d.self.tier, roles: this.d.self.roles });
          if (!this.d.running()) return; // stopped meanwhile
          l.lastSent = Date.now();
          this.d.peers.table.alive(l);
          this.d.metrics.heartbeats.inc({ outcome: 'ok' });
        }
        if (exchange) await this.exchange(l);
      }
    } catch (err) {
      if (!this.d.running()) return;
      try {
        this.d.metrics.heartbeats.inc({ outcome: 'failed' });
        // It restarted (FAILED_PRECONDITION: Hello again), or it is gone or unreachable: down now, not after the stale
        // time; the next contact greets it again.
        if (err instanceof RpcError && DOWN_STATUSES.has(err.status)) this.d.peers.table.down(l, err.message);
        this.peerFailed(l.info.nodeId, 'heartbeat', err);
      } catch (e) {
        this.d.log.warn({ peer: l.info.nodeId, err: errorMessage(e) }, 'recording a failed heartbeat failed');
      }
    }
  }
}

/** While the network forms, how often and with how many peers (those asked longest ago) a node exchanges peer lists. */
const FORMING_EVERY_MS = 2000;
const FORMING_FANOUT = 4;
/** How often a node cut off greets its connections and dials its bootstrap list (and BOOK_REDIALS known peers) again. */
const ISOLATED_RETRY_MS = 15_000;
const BOOK_REDIALS = 4;

/** Heartbeat failures that mean the peer is down or restarted, rather than slow. */
const DOWN_STATUSES = new Set([grpc.status.UNAVAILABLE, grpc.status.FAILED_PRECONDITION, grpc.status.UNAUTHENTICATED]);

/** The IP of a libp2p multiaddr string (/ip4/1.2.3.4/tcp/…, /ip6/::1/tcp/…), or the string itself. */
function remoteIp(ma: string): string {
  const m = /^\/ip[46]\/([^/]+)/.exec(ma);
  return m?.[1] ?? ma;
}
