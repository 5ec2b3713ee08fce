import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobBackend } from './blob-backend.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The simplest BlobBackend: one file per blob in a directory, named by its sha256. It stands in until the storage
 * part wires its content store in; the data plane only uses the BlobBackend interface.
 */
export class DirBlobBackend implements BlobBackend {
  constructor(private readonly dir: string) {}

  private path(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new RangeError(`not a sha256 hex digest: ${sha256.slice(0, 80)}`);
    return join(this.dir, sha256);
  }

  async stat(sha256: string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.path(sha256));
      return { size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async *read(sha256: string, offset: number): AsyncIterable<Uint8Array> {
    yield* createReadStream(this.path(sha256), { start: offset, highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>;
  }

  async accept(sha256: string, file: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = this.path(sha256);
    if (await this.stat(sha256)) {
      await rm(file, { force: true }); // same hash, same bytes: keep the one we have
      return;
    }
    await rename(file, target);
  }
}
