import { networkInterfaces } from 'node:os';
import type * as grpc from '@grpc/grpc-js';
import { multiaddr } from '@multiformats/multiaddr';
import type { Libp2p } from 'libp2p';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage, isMagnetError } from '../util/errors.js';
import { formatHostPort, parseHostPort } from '../util/host-port.js';
import type { Startable } from '../util/lifecycle.js';
import { ipRange } from './admission.js';
import type { BlobBackend } from './blob-backend.js';
import type { ControlHost, ResearchHandlers, RoundHandlers } from './control-service.js';
import { type CallCtx, RpcGuard } from './guard.js';
import { createHost } from './host.js';
import { listenGrpc } from './grpc-server.js';
import { checkHello, type CheckedHello, MAX_FIELD } from './hello-check.js';
import { HELLO_PROTOCOL, serveHello } from './libp2p-hello.js';
import type { NetMetrics } from './metrics.js';
import type { NetSecurity } from './net-security.js';
import { PeerContact } from './peer-contact.js';
import type { NetOptions } from './options.js';
import type { Peers } from './peers.js';
import { codecs, type HeartbeatRequestMsg, type HelloMsg, type PeerInfoMsg } from './proto.js';
import { Refusal } from './refusal.js';
import { StagingArea } from './staging.js';

export interface NetDeps {
  config: NetOptions;
  /** Where partial uploads from peers wait to be resumed (`<home>/incoming`). */
  stagingDir: string;
  log: Logger;
  metrics: NetMetrics;
  identity: NodeIdentity;
  /** What this node says of itself in every Hello; `networkId` is its network spec's id (peers of another are refused). */
  self: { tier: string; roles: string[]; version: string; networkId: string };
  /** The peer table this part fills (Hello, heartbeats, discovery); the other parts read it. */
  peers: Peers;
  security: NetSecurity;
  /** What the data plane serves and takes: the storage part's store and the round files, by hash. */
  backend: BlobBackend;
  /** The round messages (the DiLoCo part's handlers, converted from the wire). */
  rounds: RoundHandlers;
  /** The research messages (trial offers and results), when the research part runs. */
  research?: ResearchHandlers;
  /** The node's shutdown signal: once it aborts, no new heartbeat, greeting or discovery starts (calls still answer). */
  signal?: AbortSignal;
}

/**
 * The net part: this node's presence on the network. The TLS gRPC server (Control + Data) answers peers through
 * the backend and round handlers it was built with; the libp2p host finds peers; PeerContact keeps in touch with
 * them. Starts in that order: the server first, so the Hello a peer fetches over libp2p names a listening address.
 */
export class NetPart implements Startable, ControlHost {
  private readonly log: Logger;
  private contact: PeerContact | undefined;
  private staging: StagingArea | undefined;
  private server: grpc.Server | undefined;
  private host: Libp2p | undefined;
  private grpcAddress = '';
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private lastSweep = 0;

  constructor(private readonly deps: NetDeps) {
    this.log = deps.log;
  }

  private get cfg(): NetOptions {
    return this.deps.config;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const c = this.cfg;
    const { peers, security } = this.deps;
    await security.load((id) => peers.isMember(id));
    const tls = security.tls;
    const certOf = (id: string) => peers.table.get(id)?.certSha256;
    const guard = new RpcGuard(c, security.verifier, security.signer, this.log, this.deps.metrics, {
      isMember: (id) => peers.isMember(id),
      ...(tls.mode === 'ca' ? { certOf } : {}),
    });

    // Partial uploads: resumable for a while, then collected (at start too: what a crash left behind).
    this.staging = new StagingArea(this.deps.stagingDir, c.stagingTimeoutSeconds * 1000);
    await this.staging.init();
    await this.sweepStaging();
    const { server, port } = await listenGrpc({
      cfg: c,
      tls,
      guard,
      host: this,
      rounds: this.deps.rounds,
      ...(this.deps.research ? { research: this.deps.research } : {}),
      backend: this.deps.backend,
      staging: this.staging,
      self: this.deps.identity.nodeId,
    });
    const listen = parseHostPort(c.grpc, 'net.grpc');
    this.server = server;
    try {
      this.host = await createHost({
        privateKey: this.deps.identity.wallet.privateKey,
        listen: c.p2p,
        bootstrap: c.bootstrap,
        mdns: c.mdns,
        dht: c.dht,
        userAgent: `magnet-node/${this.deps.self.version}`,
      });
    } catch (err) {
      server.forceShutdown();
      this.server = undefined;
      if (isMagnetError(err)) throw err;
      if (/EADDRINUSE/.test(errorMessage(err)))
        throw new MagnetError(
          'ERR_PORT_IN_USE',
          `libp2p port ${c.p2p} is already in use; choose another with --p2p MULTIADDR (tcp port 0 picks a free one)`,
        );
      throw new MagnetError('ERR_LISTEN', `cannot start libp2p on ${c.p2p} (--p2p): ${errorMessage(err).split('\n')[0]}`);
    }
    this.grpcAddress = c.grpcAdvertise || formatHostPort({ host: advertiseHost(listen.host), port });
    const contact = new PeerContact({
      config: c,
      peers,
      self: { nodeId: this.deps.identity.nodeId, tier: this.deps.self.tier, roles: this.deps.self.roles },
      log: this.log,
      metrics: this.deps.metrics,
      host: () => this.host,
      running: () => this.timer !== undefined,
      selfHello: () => this.selfHello(),
      checkHello: (nodeId, msg) => this.checkHello(nodeId, msg),
    });
    this.contact = contact;
    await serveHello(this.host, () => codecs.HelloResponse.encode(this.selfHello()));
    this.host.addEventListener('peer:disconnect', (e) => contact.disconnected(e.detail));
    this.host.addEventListener('peer:identify', (e) => {
      if (e.detail.protocols.includes(HELLO_PROTOCOL)) void contact.discover(e.detail.peerId);
    });
    this.host.addEventListener('peer:discovery', (e) => {
      if (!this.host || this.host.getConnections(e.detail.id).length > 0) return;
      this.host
        .dial(e.detail.id, { signal: AbortSignal.timeout(5000) })
        .catch((err: unknown) => this.log.debug({ peer: e.detail.id.toString(), err: errorMessage(err) }, 'dial failed'));
    });
    for (const rec of peers.book.all()) peers.table.restore(rec);
    for (const a of c.bootstrap) {
      this.host
        .dial(multiaddr(a), { signal: AbortSignal.timeout(5000) })
        .catch((err: unknown) =>
          this.log.warn({ bootstrap: a, err: errorMessage(err) }, 'bootstrap peer did not answer (will retry through discovery)'),
        );
    }
    this.timer = setInterval(() => this.tick(), Math.min(c.heartbeatSeconds * 1000, 1000));
    this.timer.unref();
    this.log.info(
      { grpc: this.grpcAddress, p2p: this.multiaddrs(), authMode: c.authMode, tls: tls.mode, certSha256: tls.fingerprint.toString('hex') },
      'net started',
    );
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.deps.peers.table.clear();
    const host = this.host;
    this.host = undefined;
    await Promise.resolve(host?.stop()).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'libp2p stop failed'));
    const server = this.server;
    this.server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 3000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  multiaddrs(): string[] {
    return this.host ? this.host.getMultiaddrs().map((a) => a.toString()) : [];
  }

  get grpcListen(): string {
    return this.grpcAddress;
  }

  status(): Record<string, unknown> {
    const s = this.deps.security;
    const nonces = s.nonces;
    return {
      peerId: this.host?.peerId.toString() ?? null,
      grpc: this.grpcAddress || null,
      p2p: this.multiaddrs(),
      authMode: this.cfg.authMode,
      tls: s.loaded ? { mode: s.tls.mode, certSha256: s.tls.fingerprint.toString('hex') } : null,
      mdns: this.cfg.mdns,
      nonces: nonces ? { entries: nonces.size, strangers: nonces.pooledSize, peers: nonces.peers } : null,
      peers: this.deps.peers.status(Date.now()),
    };
  }

  /**
   * Drops a peer and its certificate pin, then greets it again at once: over its libp2p connection when it still has
   * one, else by dialling the addresses it last announced. Its certificate is pinned now, without waiting for it to
   * come back by itself (after refusals its own retries may be a minute apart).
   */
  forget(nodeId: string): boolean {
    const addrs = this.deps.peers.book.get(nodeId)?.multiaddrs ?? [];
    const known = this.deps.peers.forget(nodeId);
    if (!this.contact?.rediscover(nodeId)) {
      for (const a of addrs.filter((x) => x.includes('/p2p/')))
        this.host?.dial(multiaddr(a), { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    }
    return known;
  }

  // ---- ControlHost (called by the gRPC handlers) ----

  selfInfo(): PeerInfoMsg {
    const { nodeId, address } = this.deps.identity;
    return {
      nodeId,
      address,
      peerId: this.host?.peerId.toString() ?? '',
      multiaddrs: this.multiaddrs(),
      grpcAddress: this.grpcAddress,
      tier: this.deps.self.tier,
      roles: this.deps.self.roles,
      version: this.deps.self.version,
      networkId: this.deps.self.networkId,
    };
  }

  selfHello(): HelloMsg {
    const s = this.deps.security;
    return { self: this.selfInfo(), certPem: s.tls.certPem, binding: s.binding };
  }

  acceptHello(ctx: CallCtx, msg: HelloMsg): void {
    const v = this.checkHello(ctx.nodeId, msg);
    if (this.deps.security.tls.mode === 'ca' && !(ctx.certSha256 && ctx.certSha256.equals(v.certSha256)))
      throw new Refusal(
        'cert_identity_mismatch',
        `Hello describes certificate ${v.certSha256.toString('hex')}, but the call came with another client certificate`,
        ctx.nodeId,
      );
    this.deps.peers.table.record(v, true, ipRange(ctx.peer));
  }

  acceptHeartbeat(ctx: CallCtx, msg: HeartbeatRequestMsg): void {
    const l = this.deps.peers.table.get(ctx.nodeId);
    if (!l) throw new Refusal('unknown_peer', 'say Hello first', ctx.nodeId);
    if (msg.tier.length > MAX_FIELD || msg.roles.length > 16) throw new Refusal('bad_field', 'heartbeat tier/roles too long', ctx.nodeId);
    l.info = { ...l.info, tier: msg.tier, roles: msg.roles };
    l.lastBeatIn = Date.now();
    this.deps.peers.table.alive(l);
  }

  /** Peer exchange: members first (they are who a newcomer needs), then the others. */
  livePeers(limit: number, except: string): PeerInfoMsg[] {
    return this.deps.peers.table.livePeers(limit, except);
  }

  /** Checks a peer's Hello against the CA (private clusters) or the pins. Throws Refusal. */
  private checkHello(nodeId: string, msg: HelloMsg): CheckedHello {
    const tls = this.deps.security.tls;
    return checkHello(nodeId, msg, {
      caPem: tls.mode === 'ca' ? (tls.caPem as string) : undefined,
      book: this.deps.peers.book,
      networkId: this.deps.self.networkId,
    });
  }

  /** Every second: the peers' turn (heartbeats, greetings, the stale sweep), and now and then the staging sweep. */
  private tick(): void {
    if (this.ticking || !this.timer || this.deps.signal?.aborted) return;
    this.ticking = true;
    try {
      const now = Date.now();
      this.contact?.tick(now);
      if (now - this.lastSweep >= Math.min(60_000, (this.cfg.stagingTimeoutSeconds * 1000) / 4)) void this.sweepStaging();
    } finally {
      this.ticking = false;
    }
  }

  /** Deletes partial uploads nobody resumed within net.stagingTimeoutSeconds. Never throws. */
  private async sweepStaging(): Promise<void> {
    this.lastSweep = Date.now();
    const gone = await this.staging?.sweep(Date.now()).catch((err: unknown) => {
      this.log.warn({ err: errorMessage(err) }, 'sweeping the staging directory failed; retrying later');
      return undefined;
    });
    if (gone && gone.files > 0) {
      this.deps.metrics.stagingCollected.inc(gone.files);
      this.log.info({ ...gone, timeoutSeconds: this.cfg.stagingTimeoutSeconds }, 'partial uploads not resumed in time: deleted');
    }
  }
}

/** The host peers should dial: the listen host, or for a wildcard the first external IPv4 (else loopback). */
function advertiseHost(host: string): string {
  if (host !== '0.0.0.0' && host !== '::') return host;
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}
