import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { BlobBackend, Upload } from '../../net/blob-backend.js';

/**
 * The data-plane backend of a training node: blobs in the storage part's store first, then the files DiLoCo keeps
 * by hash (checkpoints and our own gradients), so a peer can always fetch a round's base or merge from the node
 * that made it, even when shared storage could not take it. Uploads are the primary store's to admit and keep (the
 * gradients of rounds this node leads included: the DiLoCo part tells storage which it expects).
 */
export class BlobBackendWithFiles implements BlobBackend {
  constructor(
    private readonly primary: BlobBackend,
    private readonly fileOf: (sha256: string) => string | undefined,
    /** Checkpoints: public data anyone may fetch (gradients and shards are for members). */
    private readonly publicFile: (sha256: string) => string | undefined = () => undefined,
  ) {}

  isPublic(sha256: string): boolean {
    return this.publicFile(sha256) !== undefined;
  }

  async stat(sha256: string): Promise<{ size: number } | undefined> {
    const p = await this.primary.stat(sha256);
    if (p) return p;
    const f = this.fileOf(sha256);
    return f ? { size: (await stat(f)).size } : undefined;
  }

  async *read(sha256: string, offset: number): AsyncIterable<Uint8Array> {
    if (await this.primary.stat(sha256)) return yield* this.primary.read(sha256, offset);
    const f = this.fileOf(sha256);
    if (!f) throw new Error(`blob ${sha256} is not held here`);
    yield* createReadStream(f, { start: offset, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }

  admit(u: Upload): Promise<() => void> {
    return this.primary.admit(u);
  }

  accept(sha256: string, file: string, u: Upload): Promise<void> {
    return this.primary.accept(sha256, file, u);
  }

  touch(sender: string, sha256: string): void {
    this.primary.touch?.(sender, sha256);
  }

  release(sender: string, manifestId: string): Promise<{ released: number; bytes: number; kept: number }> {
    if (!this.primary.release) throw new Error('the primary store takes no releases');
    return this.primary.release(sender, manifestId);
  }
}
