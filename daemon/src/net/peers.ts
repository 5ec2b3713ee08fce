import { EventEmitter } from 'node:events';
import type { NetOptions } from './options.js';
import type { StateDb } from '../db/database.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import type { MemberView } from '../membership/membership.js';
import { PeerClient } from './client.js';
import type { NetMetrics } from './metrics.js';
import type { NetSecurity } from './net-security.js';
import { PeerBook } from './peer-book.js';
import { type NetEvents, type NetPeer, PeerTable } from './peer-table.js';
import type { RefusalReason } from './refusal.js';

export interface PeersDeps {
  config: NetOptions;
  db: StateDb;
  identity: NodeIdentity;
  members: MemberView;
  log: Logger;
  metrics: NetMetrics;
  security: NetSecurity;
}

/**
 * The peers this node knows, as the other parts use them: who is live, who is a member, and a typed, signed client
 * to each (over the TLS channel pinned to its certificate). Built before every part that talks to peers (storage,
 * diloco); the net part fills and refreshes the table (Hello, heartbeats, discovery) once it starts.
 */
export class Peers extends EventEmitter<NetEvents> {
  readonly book: PeerBook;
  readonly table: PeerTable;

  constructor(private readonly deps: PeersDeps) {
    super();
    this.book = new PeerBook(deps.db);
    this.table = new PeerTable({
      self: deps.identity,
      members: deps.members,
      book: this.book,
      limits: () => deps.config,
      log: deps.log,
      metrics: deps.metrics,
      pinned: () => deps.security.pinned,
      newClient: (id, grpcAddress, certPem, certSha256) => this.newClient(id, grpcAddress, certPem, certSha256),
      emit: (event, peer) => this.emit(event, peer),
    });
  }

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

  /** Whether the network has members besides this node: a node that reaches none of them hears of no round. */
  hasOtherMembers(): boolean {
    const self = this.deps.identity;
    return this.deps.members.size() > (this.deps.members.isMember(self.nodeId, self.address) ? 1 : 0);
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

  /** Drops a peer from the table and the book (its certificate pin with it); true when it was known. */
  forget(nodeId: string): boolean {
    const l = this.table.remove(nodeId);
    const known = this.book.forget(nodeId);
    this.deps.log.info({ nodeId, known }, 'peer forgotten (its certificate pin is gone)');
    return known || l !== undefined;
  }

  /** Counts and logs a refusal, ours or a peer's, by method and reason. */
  refused(method: string, nodeId: string, reason: RefusalReason, message: string): void {
    this.deps.metrics.refused.inc({ method, reason });
    this.deps.log.warn({ sender: nodeId, method, reason }, `refused ${nodeId} (${method}): ${message}`);
  }

  /** The table for /status: every peer with its liveness and failure count. */
  status(now: number): Record<string, unknown>[] {
    return this.table.all().map((l) => ({
      ...this.table.toNetPeer(l),
      lastHeartbeatAgoSeconds: l.lastHeartbeat ? Math.round((now - l.lastHeartbeat) / 1000) : null,
      failures: l.failures,
      certSha256: l.certSha256.toString('hex'),
    }));
  }

  private newClient(nodeId: string, grpcAddress: string, certPem: string, certSha256: Buffer): PeerClient {
    const s = this.deps.security;
    return new PeerClient(
      { nodeId, grpcAddress, certPem, certSha256 },
      {
        signer: s.signer,
        verifier: s.answerVerifier,
        opts: s.clientOptions(),
        refused: (method, reason, message) => this.refused(method, nodeId, reason, message),
      },
    );
  }
}
