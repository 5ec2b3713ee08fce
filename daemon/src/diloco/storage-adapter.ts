import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { StoragePart } from '../storage/part.js';
import type { RoundStorage } from './ports.js';

/**
 * RoundStorage over the storage part: checkpoints and gradients become erasure-coded blobs spread over the storage
 * peers (and kubo when configured); blobs pushed to us through the data plane live in the embedded store.
 */
export class PartRoundStorage implements RoundStorage {
  constructor(private readonly storage: StoragePart) {}

  async put(file: string, meta = { kind: 'diloco', round: 0 }): Promise<{ manifestId: string }> {
    const { id } = await this.storage.service.put(await readFile(file), meta.kind, Math.max(0, meta.round));
    return { manifestId: id };
  }

  /** Writes the rebuilt (hash-checked) blob to `dest`; the caller verifies it again and renames it into place. */
  async get(manifestId: string, dest: string): Promise<void> {
    const { bytes } = await this.storage.service.get(manifestId);
    await writeFile(dest, bytes);
  }

  localPath(sha256: string): string | undefined {
    const p = this.storage.local.pathOf(sha256);
    return existsSync(p) ? p : undefined;
  }
}
