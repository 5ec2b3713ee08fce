import type { StateDb } from '../db/database.js';
import type { Migration } from '../db/migrations.js';
import type { Manifest } from './manifest.js';

export const storageMigrations: Migration[] = [
  {
    part: 'storage',
    version: 1,
    name: 'blobs, shard holders, kubo catch-up queue',
    up: `
      CREATE TABLE storage_blobs (
        manifest_id TEXT PRIMARY KEY,
        blob_sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        k INTEGER NOT NULL,
        m INTEGER NOT NULL,
        kind TEXT NOT NULL,
        round INTEGER NOT NULL,
        owner TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'active',
        priority TEXT,
        live_shards INTEGER,
        checked_at INTEGER,
        repaired_at INTEGER
      );
      CREATE TABLE storage_shards (
        manifest_id TEXT NOT NULL REFERENCES storage_blobs(manifest_id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        cid TEXT NOT NULL,
        PRIMARY KEY (manifest_id, idx)
      );
      CREATE TABLE storage_holders (
        manifest_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        holder TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (manifest_id, idx, holder),
        FOREIGN KEY (manifest_id, idx) REFERENCES storage_shards(manifest_id, idx) ON DELETE CASCADE
      );
      CREATE TABLE storage_kubo_pending (
        sha256 TEXT PRIMARY KEY,
        cid TEXT NOT NULL,
        manifest_id TEXT NOT NULL,
        queued_at INTEGER NOT NULL
      );`,
  },
  {
    part: 'storage',
    version: 2,
    name: 'blobs held for peers, with their sender and lease',
    up: `
      CREATE TABLE storage_held (
        sha256 TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        sender TEXT NOT NULL,
        purpose TEXT NOT NULL,
        ref TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX storage_held_sender ON storage_held (sender);
      CREATE INDEX storage_held_expiry ON storage_held (expires_at);`,
  },
];

export interface BlobRow {
  manifestId: string;
  blobSha256: string;
  size: number;
  k: number;
  m: number;
  kind: string;
  round: number;
  owner: string;
  createdAt: number;
  state: 'active' | 'collected';
  priority: string | null;
  liveShards: number | null;
  checkedAt: number | null;
  repairedAt: number | null;
}

export interface ShardRow {
  idx: number;
  sha256: string;
  cid: string;
  /** Holders believed to keep this shard (state 'live'). */
  holders: string[];
}

/** The storage tables. Multi-row changes run in one transaction. */
export class StorageRepository {
  constructor(private readonly db: StateDb) {}

  addBlob(id: string, m: Manifest, round: number, owner: string): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT OR IGNORE INTO storage_blobs (manifest_id, blob_sha256, size, k, m, kind, round, owner, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, m.blob.sha256, m.blob.size, m.k, m.m, m.kind, round, owner, m.createdAt);
      const shard = this.db.prepare('INSERT OR IGNORE INTO storage_shards (manifest_id, idx, sha256, cid) VALUES (?, ?, ?, ?)');
      const holder = this.db.prepare(
        `INSERT OR REPLACE INTO storage_holders (manifest_id, idx, holder, state, updated_at) VALUES (?, ?, ?, 'live', ?)`,
      );
      for (const s of m.shards) {
        shard.run(id, s.index, s.sha256, s.cid);
        for (const h of s.holders) holder.run(id, s.index, h, m.createdAt);
      }
    })();
  }

  blob(id: string): BlobRow | undefined {
    const r = this.db.prepare('SELECT * FROM storage_blobs WHERE manifest_id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? toBlob(r) : undefined;
  }

  /** Active blobs this node owns (it runs their repairs). */
  ownedActive(owner: string): BlobRow[] {
    return (
      this.db.prepare(`SELECT * FROM storage_blobs WHERE owner = ? AND state = 'active' ORDER BY created_at`).all(owner) as Record<
        string,
        unknown
      >[]
    ).map(toBlob);
  }

  shards(id: string): ShardRow[] {
    const rows = this.db.prepare('SELECT idx, sha256, cid FROM storage_shards WHERE manifest_id = ? ORDER BY idx').all(id) as {
      idx: number;
      sha256: string;
      cid: string;
    }[];
    const holders = this.db
      .prepare(`SELECT idx, holder FROM storage_holders WHERE manifest_id = ? AND state = 'live' ORDER BY holder`)
      .all(id) as { idx: number; holder: string }[];
    return rows.map((r) => ({ ...r, holders: holders.filter((h) => h.idx === r.idx).map((h) => h.holder) }));
  }

  setHolder(id: string, idx: number, holder: string, state: 'live' | 'lost' | 'corrupt', now: number): void {
    this.db
      .prepare('INSERT OR REPLACE INTO storage_holders (manifest_id, idx, holder, state, updated_at) VALUES (?, ?, ?, ?, ?)')
      .run(id, idx, holder, state, now);
  }

  setHealth(id: string, priority: string, liveShards: number, now: number, repaired: boolean): void {
    this.db
      .prepare(
        `UPDATE storage_blobs SET priority = ?, live_shards = ?, checked_at = ?, repaired_at = CASE WHEN ? THEN ? ELSE repaired_at END WHERE manifest_id = ?`,
      )
      .run(priority, liveShards, now, repaired ? 1 : 0, now, id);
  }

  /** Blobs this node owns and keeps (not collected), by kind: count and bytes before coding. */
  ownedByKind(owner: string): Record<string, { blobs: number; bytes: number }> {
    const rows = this.db
      .prepare(`SELECT kind, COUNT(*) AS n, SUM(size) AS b FROM storage_blobs WHERE owner = ? AND state = 'active' GROUP BY kind`)
      .all(owner) as { kind: string; n: number; b: number }[];
    return Object.fromEntries(rows.map((r) => [r.kind, { blobs: r.n, bytes: r.b }]));
  }

  markCollected(id: string): void {
    this.db.prepare(`UPDATE storage_blobs SET state = 'collected' WHERE manifest_id = ?`).run(id);
  }

  queueKubo(sha256: string, cid: string, manifestId: string, now: number): void {
    this.db
      .prepare('INSERT OR IGNORE INTO storage_kubo_pending (sha256, cid, manifest_id, queued_at) VALUES (?, ?, ?, ?)')
      .run(sha256, cid, manifestId, now);
  }

  kuboPending(limit: number): { sha256: string; cid: string; manifestId: string }[] {
    return this.db
      .prepare('SELECT sha256, cid, manifest_id AS manifestId FROM storage_kubo_pending ORDER BY queued_at LIMIT ?')
      .all(limit) as { sha256: string; cid: string; manifestId: string }[];
  }

  kuboDone(sha256: string): void {
    this.db.prepare('DELETE FROM storage_kubo_pending WHERE sha256 = ?').run(sha256);
  }

  kuboPendingCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM storage_kubo_pending').get() as { n: number }).n;
  }

  /** True when `sha256` is a manifest or a shard of an active blob `owner` owns (its own data, whoever else holds it). */
  ownsContent(sha256: string, owner: string): boolean {
    const row = this.db
      .prepare(
        `SELECT 1 FROM storage_blobs b WHERE b.owner = ? AND b.state = 'active' AND (b.manifest_id = ? OR EXISTS (SELECT 1 FROM storage_shards s WHERE s.manifest_id = b.manifest_id AND s.sha256 = ?)) LIMIT 1`,
      )
      .get(owner, sha256, sha256);
    return row !== undefined;
  }

  counts(): { blobs: number; active: number; byPriority: Record<string, number> } {
    const all = this.db.prepare(`SELECT state, priority, COUNT(*) AS n FROM storage_blobs GROUP BY state, priority`).all() as {
      state: string;
      priority: string | null;
      n: number;
    }[];
    const byPriority: Record<string, number> = {};
    let blobs = 0;
    let active = 0;
    for (const r of all) {
      blobs += r.n;
      if (r.state !== 'active') continue;
      active += r.n;
      byPriority[r.priority ?? 'unchecked'] = (byPriority[r.priority ?? 'unchecked'] ?? 0) + r.n;
    }
    return { blobs, active, byPriority };
  }
}

function toBlob(r: Record<string, unknown>): BlobRow {
  return {
    manifestId: r['manifest_id'] as string,
    blobSha256: r['blob_sha256'] as string,
    size: r['size'] as number,
    k: r['k'] as number,
    m: r['m'] as number,
    kind: r['kind'] as string,
    round: r['round'] as number,
    owner: r['owner'] as string,
    createdAt: r['created_at'] as number,
    state: r['state'] as 'active' | 'collected',
    priority: (r['priority'] as string | null) ?? null,
    liveShards: (r['live_shards'] as number | null) ?? null,
    checkedAt: (r['checked_at'] as number | null) ?? null,
    repairedAt: (r['repaired_at'] as number | null) ?? null,
  };
}
