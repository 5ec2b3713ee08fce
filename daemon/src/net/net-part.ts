import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import type { Libp2p } from 'libp2p';
import type { NodeConfig } from '../config/node-config.js';
import type { StateDb } from '../db/database.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { HomeDir } from '../node/home.js';
import { ConfigError, MagnetError, errorMessage, isMagnetError } from '../util/errors.js';
import { formatHostPort, parseHostPort } from '../util/host-port.js';
import type { Startable } from '../util/lifecycle.js';
import type { MemberView } from '../membership/membership.js';
import { ipRange } from './admission.js';
import type { BlobBackend } from './blob-backend.js';
import { type CertBinding, signBinding } from './binding.js';
import { type ClientOptions, PeerClient, RpcError } from './client.js';
import type { ControlHost, RoundHandlers } from './control-service.js';
import { DirBlobBackend } from './dir-blob-backend.js';
import { type EnvelopeSigner, EnvelopeVerifier, hmacSigner, NonceCache, walletSigner } from './envelope.js';
import { type CallCtx, decodeOr, RpcGuard } from './guard.js';
import { createHost, nodeIdOfPeer } from './host.js';
import { listenGrpc } from './grpc-server.js';
import { checkHello, type CheckedHello, MAX_FIELD } from './hello-check.js';
import { fetchHello, HELLO_PROTOCOL, serveHello } from './libp2p-hello.js';
import { netMetrics, type NetMetrics } from './metrics.js';
import { PeerBook } from './peer-book.js';
import { type Live, type NetEvents, type NetPeer, PeerTable } from './peer-table.js';
import { codecs, type HeartbeatRequestMsg, type HelloMsg, type PeerInfoMsg } from './proto.js';
import { Refusal, type RefusalReason } from './refusal.js';

export type { NetEvents, NetPeer } from './peer-table.js';
import { loadOrCreateTls, type TlsMaterial } from './tls.js';

export interface NetDeps {
  config: NodeConfig['net'];
  home: HomeDir;
  log: Logger;
  metrics: Metrics;
  db: StateDb;
  identity: NodeIdentity;
  self: { tier: string; roles: string[]; version: string };
  /** Who is a member: authorization for everything but public reads. */
  members: MemberView;
}

/**
 * The net part: TLS gRPC server (Control + Data), libp2p host for discovery, peer book, heartbeats, and the
 * typed client other parts use (`peers()`, `client(nodeId)`, events 'peer:new' | 'peer:back' | 'peer:stale').
 */
export class NetPart extends EventEmitter<NetEvents> implements Startable, ControlHost {
  readonly book: PeerBook;
  /** Round handlers, set by the DiLoCo part before start; unset ones answer UNIMPLEMENTED. */
  readonly rounds: RoundHandlers = {};
  private backend: BlobBackend;
  private readonly m: NetMetrics;
  private readonly log: Logger;
  private readonly table: PeerTable;
  private readonly pending = new Set<string>();
  private tls: TlsMaterial | undefined;
  private binding: CertBinding | undefined;
  private signer!: EnvelopeSigner;
  private answerVerifier!: EnvelopeVerifier;
  private server: grpc.Server | undefined;
  private host: Libp2p | undefined;
  private grpcAddress = '';
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private seq = 0;
  private startedAt = 0;

  constructor(private readonly deps: NetDeps) {
    super();
    this.log = deps.log;
    this.m = netMetrics(deps.metrics);
    this.book = new PeerBook(deps.db);
    this.backend = new DirBlobBackend(deps.home.sub('blobs'));
    this.table = new PeerTable({
      self: deps.identity,
      members: deps.members,
      book: this.book,
      limits: () => this.cfg,
      log: this.log,
      metrics: this.m,
      pinned: () => this.tls?.mode === 'pinned',
      newClient: (id, grpcAddress, certPem, certSha256) => this.newClient(id, grpcAddress, certPem, certSha256),
      emit: (event, peer) => this.emit(event, peer),
    });
  }

  /** The storage part replaces the stand-in directory backend here (before start). */
  setBlobBackend(backend: BlobBackend): void {
    this.backend = backend;
  }

  private get cfg(): NodeConfig['net'] {
    return this.deps.config;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const c = this.cfg;
    const { nodeId, signingKey } = this.deps.identity;
    const tls = await loadOrCreateTls({ dir: this.deps.home.sub('tls'), nodeId, certFile: c.tlsCert, keyFile: c.tlsKey, caFile: c.tlsCa });
    if (tls.created) this.log.info({ certSha256: tls.fingerprint.toString('hex') }, 'created a self-signed TLS certificate');
    this.tls = tls;
    this.binding = signBinding(signingKey, nodeId, tls.fingerprint);
    const windowMs = c.windowSeconds * 1000;
    let secret: Buffer | undefined;
    if (c.authMode === 'hmac') {
      secret = Buffer.from(c.clusterSecret, 'utf8');
      if (secret.length < 16)
        throw new ConfigError('net.clusterSecret (MAGNET_CLUSTER_SECRET) must be at least 16 bytes when MAGNET_AUTH_MODE=hmac', {
          key: 'net.clusterSecret',
        });
      this.signer = hmacSigner(secret, nodeId);
    } else this.signer = walletSigner(signingKey, nodeId);
    const vopts = { mode: c.authMode, windowMs, ...(secret ? { secret } : {}) };
    const verifier = new EnvelopeVerifier({ ...vopts, nonces: new NonceCache(c.nonceCacheMax) });
    this.answerVerifier = new EnvelopeVerifier({ ...vopts, nonces: new NonceCache(1000) });
    const certOf = (id: string) => this.table.get(id)?.certSha256;
    const guard = new RpcGuard(c, verifier, this.signer, this.log, this.m, {
      isMember: (id) => this.isMember(id),
      ...(tls.mode === 'ca' ? { certOf } : {}),
    });

    const { server, port } = await listenGrpc({
      cfg: c,
      tls,
      guard,
      host: this,
      rounds: this.rounds,
      backend: () => this.backend,
      incomingDir: this.deps.home.sub('incoming'),
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
      throw isMagnetError(err) ? err : new MagnetError('ERR_LISTEN', `cannot start libp2p on ${c.p2p}: ${errorMessage(err)}`);
    }
    this.grpcAddress = c.grpcAdvertise || formatHostPort({ host: advertiseHost(listen.host), port });
    await serveHello(this.host, () => codecs.HelloResponse.encode(this.selfHello()));
    this.host.addEventListener('peer:identify', (e) => {
      if (e.detail.protocols.includes(HELLO_PROTOCOL)) void this.discover(e.detail.peerId);
    });
    this.host.addEventListener('peer:discovery', (e) => {
      if (!this.host || this.host.getConnections(e.detail.id).length > 0) return;
      this.host
        .dial(e.detail.id, { signal: AbortSignal.timeout(5000) })
        .catch((err: unknown) => this.log.debug({ peer: e.detail.id.toString(), err: errorMessage(err) }, 'dial failed'));
    });
    for (const rec of this.book.all()) this.table.restore(rec);
    for (const a of c.bootstrap) {
      this.host
        .dial(multiaddr(a), { signal: AbortSignal.timeout(5000) })
        .catch((err: unknown) =>
          this.log.warn({ bootstrap: a, err: errorMessage(err) }, 'bootstrap peer did not answer (will retry through discovery)'),
        );
    }
    this.startedAt = Date.now();
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
    this.table.clear();
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

  // ---- API for other parts ----

  /** Live peers (heartbeat within the stale limit). */
  peers(): NetPeer[] {
    return this.table
      .all()
      .filter((l) => l.state === 'live')
      .map((l) => this.table.toNetPeer(l));
  }

  /** Every peer in the table, live or stale (members stay in it; non-members leave when silent). */
  known(): NetPeer[] {
    return this.table.all().map((l) => this.table.toNetPeer(l));
  }

  /** Whether an authenticated nodeId is a member, with the wallet address its verified Hello showed, if any. */
  isMember(nodeId: string): boolean {
    return this.table.isMember(nodeId);
  }

  /** Typed, signed calls to a known peer. */
  client(nodeId: string): PeerClient {
    return this.table.client(nodeId);
  }

  /** Where and who a known peer is (address and the certificate it must present), for building other clients. */
  target(nodeId: string): { nodeId: string; grpcAddress: string; certSha256: Buffer; certPem: string } | undefined {
    const l = this.table.get(nodeId);
    return l && { nodeId, grpcAddress: l.info.grpcAddress, certSha256: l.certSha256, certPem: l.certPem };
  }

  multiaddrs(): string[] {
    return this.host ? this.host.getMultiaddrs().map((a) => a.toString()) : [];
  }

  get grpcListen(): string {
    return this.grpcAddress;
  }

  status(): Record<string, unknown> {
    const now = Date.now();
    return {
      peerId: this.host?.peerId.toString() ?? null,
      grpc: this.grpcAddress || null,
      p2p: this.multiaddrs(),
      authMode: this.cfg.authMode,
      tls: this.tls ? { mode: this.tls.mode, certSha256: this.tls.fingerprint.toString('hex') } : null,
      mdns: this.cfg.mdns,
      peers: this.table.all().map((l) => ({
        ...this.table.toNetPeer(l),
        lastHeartbeatAgoSeconds: l.lastHeartbeat ? Math.round((now - l.lastHeartbeat) / 1000) : null,
        failures: l.failures,
      })),
    };
  }

  forget(nodeId: string): boolean {
    const l = this.table.remove(nodeId);
    const known = this.book.forget(nodeId);
    this.log.info({ nodeId, known }, 'peer forgotten (its certificate pin is gone)');
    // Still connected over libp2p (e.g. it was refused for a new certificate): greet it again now, so the
    // certificate it presents now is pinned without waiting for a reconnect.
    for (const conn of this.host?.getConnections() ?? []) {
      if (nodeIdOfPeer(conn.remotePeer) === nodeId) {
        void this.discover(conn.remotePeer);
        break;
      }
    }
    return known || l !== undefined;
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
    };
  }

  selfHello(): HelloMsg {
    return { self: this.selfInfo(), certPem: (this.tls as TlsMaterial).certPem, binding: this.binding ?? null };
  }

  acceptHello(ctx: CallCtx, msg: HelloMsg): void {
    const v = this.checkHello(ctx.nodeId, msg);
    if (this.tls?.mode === 'ca' && !(ctx.certSha256 && ctx.certSha256.equals(v.certSha256)))
      throw new Refusal(
        'cert_identity_mismatch',
        `Hello describes certificate ${v.certSha256.toString('hex')}, but the call came with another client certificate`,
        ctx.nodeId,
      );
    this.table.record(v, true, ipRange(ctx.peer));
  }

  acceptHeartbeat(ctx: CallCtx, msg: HeartbeatRequestMsg): void {
    const l = this.table.get(ctx.nodeId);
    if (!l) throw new Refusal('unknown_peer', 'say Hello first', ctx.nodeId);
    if (msg.tier.length > MAX_FIELD || msg.roles.length > 16) throw new Refusal('bad_field', 'heartbeat tier/roles too long', ctx.nodeId);
    l.info = { ...l.info, tier: msg.tier, roles: msg.roles };
    this.table.alive(l);
  }

  /** Peer exchange: members first (they are who a newcomer needs), then the others. */
  livePeers(limit: number, except: string): PeerInfoMsg[] {
    return this.table.livePeers(limit, except);
  }

  // ---- peers ----

  /** Checks a peer's Hello against the CA (private clusters) or the pins. Throws Refusal. */
  private checkHello(nodeId: string, msg: HelloMsg): CheckedHello {
    return checkHello(nodeId, msg, { caPem: this.tls?.mode === 'ca' ? (this.tls.caPem as string) : undefined, book: this.book });
  }

  private clientOptions(): ClientOptions {
    const c = this.cfg;
    const t = this.tls;
    return {
      chunkBytes: c.chunkBytes,
      callDeadlineMs: c.callDeadlineSeconds * 1000,
      blobDeadlineMs: c.blobDeadlineSeconds * 1000,
      ...(t?.caPem ? { caPem: t.caPem, clientCert: { certPem: t.certPem, keyPem: t.keyPem } } : {}),
    };
  }

  private newClient(nodeId: string, grpcAddress: string, certPem: string, certSha256: Buffer): PeerClient {
    return new PeerClient(
      { nodeId, grpcAddress, certPem, certSha256 },
      { signer: this.signer, verifier: this.answerVerifier, opts: this.clientOptions() },
    );
  }

  /** libp2p found a magnet peer: fetch its signed hello over libp2p, check it, say Hello over gRPC, exchange peers. */
  private async discover(peerId: PeerId): Promise<void> {
    const nodeId = nodeIdOfPeer(peerId);
    if (!nodeId || nodeId === this.deps.identity.nodeId || this.pending.has(nodeId) || !this.host) return;
    this.pending.add(nodeId);
    try {
      const bytes = await fetchHello(this.host, peerId, this.cfg.maxControlBytes, 5000);
      const v = this.checkHello(nodeId, decodeOr(codecs.HelloResponse.decode, bytes, 'libp2p hello', nodeId));
      const l = this.table.record(v, false, ipRange(remoteIp(this.host.getConnections(peerId)[0]?.remoteAddr.toString() ?? '')));
      await this.greet(l);
    } catch (err) {
      this.peerFailed(nodeId, 'libp2p:hello', err);
    } finally {
      this.pending.delete(nodeId);
    }
  }

  /** gRPC Hello to a peer (re-checking its answer against what we know), then peer exchange. */
  private async greet(l: Live): Promise<void> {
    const answer = await l.client.hello(this.selfHello());
    const v = this.checkHello(l.info.nodeId, answer);
    if (!v.certSha256.equals(l.certSha256))
      throw new Refusal('cert_pin_mismatch', `${l.info.nodeId} answered Hello with another certificate than it announced`, l.info.nodeId);
    this.table.record(v, true, l.range);
    await this.exchange(l);
  }

  /** Peer exchange: dial (over libp2p) the live peers a peer knows and we do not. */
  private async exchange(l: Live): Promise<void> {
    l.lastExchange = Date.now();
    const { peers } = await l.client.getPeers(32);
    for (const p of peers) {
      if (p.nodeId === this.deps.identity.nodeId || this.table.get(p.nodeId)?.state === 'live') continue;
      const addr = p.multiaddrs.find((a) => a.includes('/p2p/'));
      if (addr && this.host) this.host.dial(multiaddr(addr), { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    }
  }

  private peerFailed(nodeId: string, method: string, err: unknown): void {
    const l = this.table.get(nodeId);
    if (l) {
      l.failures += 1;
      l.nextTry = Date.now() + Math.min(60_000, 1000 * 2 ** Math.min(l.failures, 6));
      this.book.failure(nodeId);
    }
    if (err instanceof Refusal) this.refused(method, nodeId, err.reason, err.message);
    else if (isMagnetError(err, 'ERR_CERT_PIN')) this.refused(method, nodeId, 'cert_pin_mismatch', err.message);
    else this.log.debug({ peer: nodeId, method, err: errorMessage(err) }, 'peer call failed');
  }

  private refused(method: string, nodeId: string, reason: RefusalReason, message: string): void {
    this.m.refused.inc({ method, reason });
    this.log.warn({ sender: nodeId, method, reason }, `refused ${nodeId} (${method}): ${message}`);
  }

  /**
   * Heartbeats due peers, re-greets stale ones after their backoff, marks silent ones stale. Calls run in the
   * background (one at a time per peer, through `pending`): a peer that does not answer (partitioned, frozen) holds
   * only its own call until the deadline, never the heartbeats of the others or the stale check.
   */
  private tick(): void {
    if (this.ticking || !this.timer) return;
    this.ticking = true;
    try {
      const now = Date.now();
      const hbMs = this.cfg.heartbeatSeconds * 1000;
      // Exchange peers often while the network forms (first minute), then once per heartbeat.
      const exMs = now - this.startedAt < 60_000 ? 2000 : hbMs;
      for (const l of this.table.all()) {
        if (this.pending.has(l.info.nodeId) || l.nextTry > now) continue;
        const beat = now - l.lastSent >= hbMs - 500;
        const exchange = l.state === 'live' && now - l.lastExchange >= exMs;
        if (!beat && !exchange) continue;
        this.pending.add(l.info.nodeId);
        void this.contact(l, beat, exchange).finally(() => this.pending.delete(l.info.nodeId));
      }
      this.table.sweep(Date.now());
    } finally {
      this.ticking = false;
    }
  }

  /** One peer's turn: greet it when stale, else heartbeat and/or exchange peers. Never throws. */
  private async contact(l: Live, beat: boolean, exchange: boolean): Promise<void> {
    try {
      if (l.state === 'stale') await this.greet(l);
      else {
        if (beat) {
          await l.client.heartbeat({ seq: ++this.seq, tier: this.deps.self.tier, roles: this.deps.self.roles });
          if (!this.timer) return; // stopped meanwhile
          l.lastSent = Date.now();
          this.table.alive(l);
          this.m.heartbeats.inc({ outcome: 'ok' });
        }
        if (exchange) await this.exchange(l);
      }
    } catch (err) {
      if (!this.timer) return;
      try {
        this.m.heartbeats.inc({ outcome: 'failed' });
        if (err instanceof RpcError && err.status === grpc.status.FAILED_PRECONDITION) l.state = 'stale'; // it restarted: Hello again
        this.peerFailed(l.info.nodeId, 'heartbeat', err);
      } catch (e) {
        this.log.warn({ peer: l.info.nodeId, err: errorMessage(e) }, 'recording a failed heartbeat failed');
      }
    }
  }
}

/** The IP of a libp2p multiaddr string (/ip4/1.2.3.4/tcp/…, /ip6/::1/tcp/…), or the string itself. */
function remoteIp(ma: string): string {
  const m = /^\/ip[46]\/([^/]+)/.exec(ma);
  return m?.[1] ?? ma;
}

/** The host peers should dial: the listen host, or for a wildcard the first external IPv4 (else loopback). */
function advertiseHost(host: string): string {
  if (host !== '0.0.0.0' && host !== '::') return host;
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}
