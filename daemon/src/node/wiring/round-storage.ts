import type { RoundStorage } from '../../diloco/ports.js';
import type { GradientGate } from '../../storage/placement.js';

/** What the rounds use of the storage part. */
export interface BlobStorage {
  putFile(src: string, kind: string, round: number): Promise<{ id: string }>;
  getToFile(id: string, dest: string): Promise<unknown>;
  /** A blob's signed manifest (found locally or asked of the peers): what it is and how large, before any shard. */
  manifestOf(id: string): Promise<{ blob: { sha256: string; size: number } }>;
  localPath(sha256: string): string | undefined;
  expectGradients(gate: GradientGate): void;
}

/**
 * RoundStorage over the storage part: checkpoints and gradients become erasure-coded blobs spread over the storage
 * peers (and kubo when configured), streamed from and to files; blobs pushed to us through the data plane live in the embedded store.
 */
export class PartRoundStorage implements RoundStorage {
  constructor(private readonly storage: BlobStorage) {}

  async put(file: string, meta = { kind: 'diloco', round: 0 }): Promise<{ manifestId: string }> {
    const { id } = await this.storage.putFile(file, meta.kind, Math.max(0, meta.round));
    return { manifestId: id };
  }

  /** Writes the rebuilt (hash-checked) blob to `dest`; the caller verifies it again and renames it into place. */
  async get(manifestId: string, dest: string): Promise<void> {
    await this.storage.getToFile(manifestId, dest);
  }

  expectGradients(gate: GradientGate): void {
    this.storage.expectGradients(gate);
  }

  localPath(sha256: string): string | undefined {
    return this.storage.localPath(sha256);
  }
}
