import { readFile } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import type { Upload } from '../net/blob-backend.js';
import { Refusal } from '../net/refusal.js';
import { errorMessage } from '../util/errors.js';
import type { DiskWatch } from './disk-watch.js';
import type { HeldBlob, HeldRepository } from './held-repo.js';
import { MAX_MANIFEST_BYTES, type Manifest, verifyManifest } from './manifest.js';
import { type GradientGate, checkManifestUpload, checkPlacement } from './placement.js';
import type { StorageRepository } from './storage-repo.js';
import type { ContentStore } from './stores/content-store.js';

export interface UploadOptions {
  /** Most bytes one peer may have here: what it placed and still holds a lease on, its uploads in flight and its partial ones. */
  peerQuotaBytes: number;
  /** The same, every peer together. */
  totalQuotaBytes: number;
  /** Lease of a shard or manifest after its sender last asked about it. */
  leaseMs: number;
  /** Lease of a gradient pushed to this node as a round's leader. */
  gradientLeaseMs: number;
}

export interface UploadGateDeps {
  self: string;
  /** The embedded store (stores/embedded-store.ts, which calls this gate: typed by shape here, so no file cycle). */
  store: ContentStore & { stat(sha256: string): Promise<{ size: number } | undefined> };
  held: HeldRepository;
  repo: StorageRepository;
  disk: DiskWatch;
  opts: UploadOptions;
  log: Logger;
  /** Told of each collection run that deleted something. */
  collected?: (blobs: number, bytes: number) => void;
  /** Manifest ids the network still needs (the latest checkpoint, blobs pending claims): never deleted here. */
  keep?: () => ReadonlySet<string>;
}

/**
 * What peers may store on this node, and for how long. Before a byte of an upload is staged: a placement that puts
 * it here (placement.ts), the sender's and the node's byte quotas, the disk's low-watermark; the bytes are reserved
 * until the upload ends. Once in: a manifest is verified before it is kept, and every blob taken is recorded with
 * its sender and a lease (held-repo.ts). Its sender's presence probes renew the lease; `collect` deletes what
 * outlived it.
 */
export class UploadGate {
  private readonly reserved = new Map<string, number>();
  private reservedAll = 0;
  private gradients: GradientGate | undefined;
  /** Manifests verified once (signature recovery costs ~2 ms), by id; bounded. */
  private readonly verified = new Map<string, Manifest>();

  constructor(private readonly d: UploadGateDeps) {}

  /** The DiLoCo part says which gradient pushes it expects (rounds this node leads). */
  expectGradients(gate: GradientGate): void {
    this.gradients = gate;
  }

  async admit(u: Upload): Promise<() => void> {
    await checkPlacement(u, { manifest: (id) => this.manifest(id), gradients: this.gradients });
    // Checked and reserved with no await in between, so concurrent uploads cannot pass the quota together.
    this.checkQuotas(u);
    this.reserve(u.sender, u.size);
    try {
      await this.d.disk.refuseUnder(u.size, this.reservedAll - u.size, u.sender);
    } catch (err) {
      this.reserve(u.sender, -u.size);
      throw err;
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.reserve(u.sender, -u.size);
    };
  }

  /** Before the store keeps a complete upload: a manifest must verify, signed by its sender. */
  async beforeAccept(u: Upload, file: string): Promise<void> {
    if (u.purpose !== 'manifest') return;
    const m = checkManifestUpload(u, await readFile(file));
    this.remember(u.sha256, m);
  }

  /** The store kept it: recorded with its sender and lease. */
  accepted(u: Upload, now = Date.now()): void {
    this.d.held.record({
      sha256: u.sha256,
      size: u.size,
      sender: u.sender,
      purpose: u.purpose,
      ref: u.purpose === 'shard' ? (u.manifestId ?? '') : u.purpose === 'gradient' ? String(u.round ?? '') : '',
      receivedAt: now,
      expiresAt: now + (u.purpose === 'gradient' ? this.d.opts.gradientLeaseMs : this.d.opts.leaseMs),
    });
  }

  /** Its sender asked about a blob (StatBlob from its repair loop): the lease runs again from now. */
  touch(sender: string, sha256: string, now = Date.now()): void {
    this.d.held.renew(sha256, sender, now + this.d.opts.leaseMs);
  }

  /**
   * ReleaseBlob from `sender`: the manifest and the shards it placed under it are deleted now. Every one of them must
   * be `sender`'s (else not_owner, and nothing goes); those the network still needs stay (`kept`), as does content
   * this node owns itself.
   */
  async release(sender: string, manifestId: string): Promise<{ released: number; bytes: number; kept: number }> {
    const entries = this.d.held.byManifest(manifestId);
    if (entries.length === 0) throw new Refusal('not_found', `nothing is held here under manifest ${manifestId}`, sender);
    const foreign = entries.find((e) => e.sender !== sender);
    if (foreign)
      throw new Refusal(
        'not_owner',
        `manifest ${manifestId} was placed here by ${foreign.sender}, not ${sender}: only its sender may release it`,
        sender,
      );
    if (this.d.keep?.().has(manifestId)) return { released: 0, bytes: 0, kept: entries.length };
    let released = 0;
    let bytes = 0;
    for (const e of entries) {
      await this.drop(e);
      released++;
      bytes += e.size;
    }
    this.d.log.info({ sender, manifestId, released, bytes }, 'blob released by its sender');
    this.d.collected?.(released, bytes);
    return { released, bytes, kept: 0 };
  }

  /**
   * Deletes the blobs held for peers whose lease ended, except those in `keep` (manifest ids: the latest checkpoint
   * and what pending claims refer to, with their shards) and content this node owns itself.
   */
  async collect(keep: ReadonlySet<string>, now = Date.now()): Promise<{ blobs: number; bytes: number }> {
    const gone = this.d.held.expired(now).filter((b) => {
      if (!keep.has(b.sha256) && !(b.purpose === 'shard' && keep.has(b.ref))) return true;
      this.d.held.renew(b.sha256, b.sender, now + this.d.opts.leaseMs);
      return false;
    });
    return this.dropAll(gone, 'blobs held for peers past their lease', {});
  }

  /**
   * Deletes the gradients held for the leaders of rounds before `round` (the latest certified one): a settled round
   * never asks for its gradients again, so they go now rather than when their lease lapses.
   */
  async settleGradients(round: number): Promise<{ blobs: number; bytes: number }> {
    return this.dropAll(this.d.held.gradientsBefore(round), 'gradients of settled rounds', { before: round });
  }

  /** Drops each blob (a failure is logged and retried next round), logs and counts what went. */
  private async dropAll(held: HeldBlob[], what: string, fields: Record<string, unknown>): Promise<{ blobs: number; bytes: number }> {
    let blobs = 0;
    let bytes = 0;
    for (const b of held) {
      try {
        await this.drop(b);
        blobs++;
        bytes += b.size;
      } catch (err) {
        this.d.log.warn({ sha256: b.sha256, err: errorMessage(err) }, `deleting ${what} failed; retrying next round`);
      }
    }
    if (blobs > 0) {
      this.d.log.info({ ...fields, blobs, bytes }, `${what}: deleted`);
      this.d.collected?.(blobs, bytes);
    }
    return { blobs, bytes };
  }

  /** Deletes a blob held for a peer (its file too, unless this node owns the same content) and forgets it. */
  private async drop(b: HeldBlob): Promise<void> {
    if (!this.d.repo.ownsContent(b.sha256, this.d.self)) await this.d.store.unpin({ sha256: b.sha256, cid: '' });
    this.d.held.remove(b.sha256);
    this.verified.delete(b.sha256);
  }

  status(): Record<string, unknown> {
    return {
      held: this.d.held.counts(),
      inFlightBytes: this.reservedAll,
      peerQuotaBytes: this.d.opts.peerQuotaBytes,
      totalQuotaBytes: this.d.opts.totalQuotaBytes,
      leaseHours: this.d.opts.leaseMs / 3_600_000,
      gradientLeaseHours: this.d.opts.gradientLeaseMs / 3_600_000,
    };
  }

  private checkQuotas(u: Upload): void {
    const held = this.d.held.bytes(u.sender);
    const peer = held.peer + (this.reserved.get(u.sender) ?? 0) + u.staged.peer + u.size;
    if (peer > this.d.opts.peerQuotaBytes)
      throw new Refusal(
        'peer_quota_exceeded',
        `${u.size} more bytes would bring what ${u.sender} keeps here to ${peer}, over its quota of ${this.d.opts.peerQuotaBytes} (storage.peerQuotaBytes)`,
        u.sender,
      );
    const all = held.all + this.reservedAll + u.staged.all + u.size;
    if (all > this.d.opts.totalQuotaBytes)
      throw new Refusal(
        'quota_exceeded',
        `${u.size} more bytes would bring what peers keep here to ${all}, over the quota of ${this.d.opts.totalQuotaBytes} (storage.totalQuotaBytes)`,
        u.sender,
      );
  }

  private reserve(sender: string, bytes: number): void {
    const left = (this.reserved.get(sender) ?? 0) + bytes;
    if (left <= 0) this.reserved.delete(sender);
    else this.reserved.set(sender, left);
    this.reservedAll += bytes;
  }

  /** A manifest this node holds, verified (once); undefined when absent or when its bytes do not verify. */
  private async manifest(id: string): Promise<Manifest | undefined> {
    const known = this.verified.get(id);
    if (known) return known;
    const st = await this.d.store.stat(id);
    if (!st || st.size > MAX_MANIFEST_BYTES) return undefined;
    try {
      const bytes = await this.d.store.get({ sha256: id, cid: '' });
      if (!bytes) return undefined;
      const m = verifyManifest(bytes, id).manifest;
      this.remember(id, m);
      return m;
    } catch {
      return undefined;
    }
  }

  private remember(id: string, m: Manifest): void {
    if (this.verified.size >= 1024) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(id, m);
  }
}
