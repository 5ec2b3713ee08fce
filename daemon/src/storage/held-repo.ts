import type { StateDb } from '../db/database.js';

/** A blob this node keeps because a peer placed it here: who sent it, why, and until when. */
export interface HeldBlob {
  sha256: string;
  size: number;
  sender: string;
  purpose: string;
  /** shard: its manifest id; gradient: its round; manifest: empty. */
  ref: string;
  receivedAt: number;
  expiresAt: number;
}

/**
 * The storage_held table: every blob taken from a peer, with its lease. The byte quotas are sums over it; the
 * collector deletes what is past its lease. One row per content: a second sender of the same bytes adds nothing.
 */
export class HeldRepository {
  constructor(private readonly db: StateDb) {}

  record(b: HeldBlob): void {
    this.db
      .prepare(
        'INSERT OR IGNORE INTO storage_held (sha256, size, sender, purpose, ref, received_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(b.sha256, b.size, b.sender, b.purpose, b.ref, b.receivedAt, b.expiresAt);
  }

  /** Extends the lease of a blob `sender` sent, and of the manifest a shard of it belongs to. */
  renew(sha256: string, sender: string, expiresAt: number): void {
    this.db
      .prepare(
        `UPDATE storage_held SET expires_at = MAX(expires_at, ?) WHERE sender = ? AND (sha256 = ? OR sha256 = (SELECT ref FROM storage_held WHERE sha256 = ? AND purpose = 'shard'))`,
      )
      .run(expiresAt, sender, sha256, sha256);
  }

  get(sha256: string): HeldBlob | undefined {
    const r = this.db.prepare('SELECT * FROM storage_held WHERE sha256 = ?').get(sha256) as Record<string, unknown> | undefined;
    return r ? toHeld(r) : undefined;
  }

  /** Bytes held for `sender`, and for every peer together. */
  bytes(sender: string): { peer: number; all: number } {
    const r = this.db
      .prepare(
        'SELECT COALESCE(SUM(size), 0) AS all_bytes, COALESCE(SUM(CASE WHEN sender = ? THEN size ELSE 0 END), 0) AS peer FROM storage_held',
      )
      .get(sender) as { all_bytes: number; peer: number };
    return { peer: r.peer, all: r.all_bytes };
  }

  counts(): { blobs: number; bytes: number } {
    const r = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM storage_held').get() as { n: number; b: number };
    return { blobs: r.n, bytes: r.b };
  }

  /** Gradients held for leaders of rounds before `round` (their ref is the round). */
  gradientsBefore(round: number, limit = 256): HeldBlob[] {
    return (
      this.db
        .prepare(`SELECT * FROM storage_held WHERE purpose = 'gradient' AND CAST(ref AS INTEGER) < ? ORDER BY sha256 LIMIT ?`)
        .all(round, limit) as Record<string, unknown>[]
    ).map(toHeld);
  }

  /** What is held for peers, by purpose (shard, manifest, gradient). */
  countsByPurpose(): Record<string, { blobs: number; bytes: number }> {
    const rows = this.db.prepare('SELECT purpose, COUNT(*) AS n, SUM(size) AS b FROM storage_held GROUP BY purpose').all() as {
      purpose: string;
      n: number;
      b: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.purpose, { blobs: r.n, bytes: r.b }]));
  }

  /** Blobs whose lease ended by `now`, oldest first. */
  expired(now: number, limit = 256): HeldBlob[] {
    return (
      this.db.prepare('SELECT * FROM storage_held WHERE expires_at <= ? ORDER BY expires_at LIMIT ?').all(now, limit) as Record<
        string,
        unknown
      >[]
    ).map(toHeld);
  }

  /** A manifest held here and every shard placed under it. */
  byManifest(manifestId: string): HeldBlob[] {
    return (
      this.db
        .prepare(`SELECT * FROM storage_held WHERE sha256 = ? OR (purpose = 'shard' AND ref = ?) ORDER BY sha256`)
        .all(manifestId, manifestId) as Record<string, unknown>[]
    ).map(toHeld);
  }

  remove(sha256: string): void {
    this.db.prepare('DELETE FROM storage_held WHERE sha256 = ?').run(sha256);
  }
}

function toHeld(r: Record<string, unknown>): HeldBlob {
  return {
    sha256: r['sha256'] as string,
    size: r['size'] as number,
    sender: r['sender'] as string,
    purpose: r['purpose'] as string,
    ref: r['ref'] as string,
    receivedAt: r['received_at'] as number,
    expiresAt: r['expires_at'] as number,
  };
}
