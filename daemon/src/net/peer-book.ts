import type { StateDb } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import { MagnetError } from '../util/errors.js';
import { fingerprintText } from './binding.js';

export const netMigrations: Migration[] = [
  {
    part: 'net',
    version: 1,
    name: 'peer book',
    up: `CREATE TABLE net_peers (
      node_id TEXT PRIMARY KEY,
      address TEXT NOT NULL,
      peer_id TEXT NOT NULL,
      grpc_address TEXT NOT NULL,
      multiaddrs TEXT NOT NULL,
      tier TEXT NOT NULL,
      roles TEXT NOT NULL,
      cert_sha256 TEXT,
      cert_pem TEXT,
      first_seen INTEGER NOT NULL,
      last_seen INTEGER NOT NULL,
      last_heartbeat INTEGER,
      failures INTEGER NOT NULL DEFAULT 0
    )`,
  },
];

export interface PeerRecord {
  nodeId: string;
  address: string;
  peerId: string;
  grpcAddress: string;
  multiaddrs: string[];
  tier: string;
  roles: string[];
  /** Pinned certificate fingerprint (hex) and PEM; null in CA mode or before the first verified contact. */
  certSha256: string | null;
  certPem: string | null;
  firstSeen: number;
  lastSeen: number;
  lastHeartbeat: number | null;
  failures: number;
}

interface Row {
  node_id: string;
  address: string;
  peer_id: string;
  grpc_address: string;
  multiaddrs: string;
  tier: string;
  roles: string;
  cert_sha256: string | null;
  cert_pem: string | null;
  first_seen: number;
  last_seen: number;
  last_heartbeat: number | null;
  failures: number;
}

const fromRow = (r: Row): PeerRecord => ({
  nodeId: r.node_id,
  address: r.address,
  peerId: r.peer_id,
  grpcAddress: r.grpc_address,
  multiaddrs: JSON.parse(r.multiaddrs) as string[],
  tier: r.tier,
  roles: JSON.parse(r.roles) as string[],
  certSha256: r.cert_sha256,
  certPem: r.cert_pem,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  lastHeartbeat: r.last_heartbeat,
  failures: r.failures,
});

/** A certificate that differs from the pinned one for a nodeId. */
export class CertPinError extends MagnetError {
  override readonly name = 'CertPinError';
  constructor(nodeId: string, pinned: string, presented: string) {
    super(
      'ERR_CERT_PIN',
      `certificate of ${nodeId} changed: pinned sha256:${pinned}, presented sha256:${presented}; refusing it. If the peer really rotated its certificate, run "magnet-node peers forget ${nodeId}"`,
      { nodeId, pinned, presented },
    );
  }
}

/** The net_peers table: every peer ever verified, with its pinned certificate. */
export class PeerBook {
  constructor(private readonly db: StateDb) {}

  get(nodeId: string): PeerRecord | undefined {
    const row = this.db.prepare('SELECT * FROM net_peers WHERE node_id = ?').get(nodeId) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  all(): PeerRecord[] {
    return (this.db.prepare('SELECT * FROM net_peers ORDER BY node_id').all() as Row[]).map(fromRow);
  }

  /** Throws CertPinError when nodeId has another pinned certificate; true when a pin exists and matches. */
  checkPin(nodeId: string, fingerprint: Buffer): boolean {
    const row = this.db.prepare('SELECT cert_sha256 FROM net_peers WHERE node_id = ?').get(nodeId) as
      { cert_sha256: string | null } | undefined;
    const presented = fingerprint.toString('hex');
    if (!row?.cert_sha256) return false;
    if (row.cert_sha256 !== presented) throw new CertPinError(nodeId, row.cert_sha256, presented);
    return true;
  }

  /**
   * Records a verified contact. The pin is written only when none exists (checkPin ran before, in the same
   * synchronous turn, so no other writer slips in between).
   */
  upsert(p: Omit<PeerRecord, 'firstSeen' | 'lastSeen' | 'lastHeartbeat' | 'failures'>, now: number): void {
    this.db
      .prepare(
        `INSERT INTO net_peers (node_id, address, peer_id, grpc_address, multiaddrs, tier, roles, cert_sha256, cert_pem, first_seen, last_seen, failures)
         VALUES (@nodeId, @address, @peerId, @grpcAddress, @multiaddrs, @tier, @roles, @certSha256, @certPem, @now, @now, 0)
         ON CONFLICT(node_id) DO UPDATE SET address = excluded.address, peer_id = excluded.peer_id, grpc_address = excluded.grpc_address,
           multiaddrs = excluded.multiaddrs, tier = excluded.tier, roles = excluded.roles, last_seen = excluded.last_seen,
           cert_sha256 = COALESCE(net_peers.cert_sha256, excluded.cert_sha256), cert_pem = COALESCE(net_peers.cert_pem, excluded.cert_pem)`,
      )
      .run({ ...p, multiaddrs: JSON.stringify(p.multiaddrs), roles: JSON.stringify(p.roles), now });
  }

  heartbeat(nodeId: string, tier: string, roles: string[], now: number): void {
    this.db
      .prepare('UPDATE net_peers SET last_heartbeat = ?, last_seen = ?, failures = 0, tier = ?, roles = ? WHERE node_id = ?')
      .run(now, now, tier, JSON.stringify(roles), nodeId);
  }

  failure(nodeId: string): void {
    this.db.prepare('UPDATE net_peers SET failures = failures + 1 WHERE node_id = ?').run(nodeId);
  }

  /** Keeps at most `max` rows of peers that `keep` does not protect; the least recently seen go first. */
  prune(keep: (nodeId: string) => boolean, max: number): number {
    const rows = this.db.prepare('SELECT node_id FROM net_peers ORDER BY last_seen DESC').all() as { node_id: string }[];
    const gone = rows.filter((r) => !keep(r.node_id)).slice(max);
    if (gone.length === 0) return 0;
    const del = this.db.prepare('DELETE FROM net_peers WHERE node_id = ?');
    this.db.transaction(() => {
      for (const r of gone) del.run(r.node_id);
    })();
    return gone.length;
  }

  /** Forgets a peer and its pin; true when it was known. */
  forget(nodeId: string): boolean {
    return this.db.prepare('DELETE FROM net_peers WHERE node_id = ?').run(nodeId).changes > 0;
  }
}

export { fingerprintText };
