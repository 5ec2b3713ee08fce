import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobBackend, Upload } from '../../net/blob-backend.js';
import { Refusal } from '../../net/refusal.js';
import { MagnetError, errorMessage } from '../../util/errors.js';
import { sha256File } from '../../util/hash.js';
import { contentCid, hashFile, sha256Hex } from '../cid.js';
import type { UploadGate } from '../uploads.js';
import type { ContentRef, ContentStore } from './content-store.js';

const HEX64 = /^[0-9a-f]{64}$/;
/** Error codes that mean the disk (or the process's file-size limit) is full. */
const FULL = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/**
 * The embedded default store: files named by sha256 under `<home>/shards/ab/<sha256>`. A file is complete by
 * construction: it is written to `<dir>/tmp/`, fsynced, then renamed into place, so a crash or a full disk
 * never leaves a partial file under a content name. Reads are hash-checked.
 */
export class EmbeddedStore implements ContentStore, BlobBackend {
  readonly name = 'embedded';
  private readonly tmpDir: string;
  /** What peers may put here through the data plane (the storage part installs it); none: nothing. */
  private uploads: UploadGate | undefined;

  constructor(readonly dir: string) {
    this.tmpDir = join(dir, 'tmp');
  }

  async init(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    // Leftovers of writes cut short by a crash: never complete, never under a content name.
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  pathOf(sha256: string): string {
    if (!HEX64.test(sha256)) throw new MagnetError('ERR_CONTENT_REF', `not a sha256 (64 lowercase hex): ${sha256}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(bytes: Uint8Array): Promise<ContentRef> {
    const sha256 = sha256Hex(bytes);
    const ref = { sha256, cid: contentCid(bytes) };
    if (await this.stat(sha256)) return ref;
    const tmp = join(this.tmpDir, `${sha256}.${randomBytes(4).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.place(tmp, sha256);
    } catch (err) {
      await rm(tmp, { force: true });
      throw writeError(err, this.dir, sha256);
    }
    return ref;
  }

  /**
   * Stores a copy of `file` (left in place): hard-linked when on this filesystem (the work files of a put are), copied
   * otherwise, fsynced, then renamed under its content name. `ref` is what the caller computed it to be; it is hashed
   * again when absent.
   */
  async putFile(file: string, ref?: ContentRef): Promise<ContentRef> {
    const r = ref ?? (await hashFile(file));
    const named = { sha256: r.sha256, cid: r.cid };
    if (await this.stat(r.sha256)) return named;
    const tmp = join(this.tmpDir, `${r.sha256}.${randomBytes(4).toString('hex')}`);
    try {
      await link(file, tmp).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err;
        await copyFile(file, tmp);
      });
      const fh = await open(tmp, 'r');
      await fh.sync().finally(() => fh.close());
      await this.place(tmp, r.sha256);
    } catch (err) {
      await rm(tmp, { force: true });
      throw writeError(err, this.dir, r.sha256);
    }
    return named;
  }

  /** A new private directory for the files of one put or get (under tmp/: removed at start, on the same filesystem). */
  workDir(): Promise<string> {
    return mkdtemp(join(this.tmpDir, 'work-'));
  }

  async get(ref: ContentRef): Promise<Uint8Array | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(ref.sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new MagnetError('ERR_CONTENT_READ', `cannot read ${ref.sha256} from the embedded store: ${errorMessage(err)}`);
    }
    await this.checkHash(ref.sha256, sha256Hex(bytes));
    return bytes;
  }

  /**
   * Re-hashes a stored file as a stream (the scrubber: any size, bounded memory); returns its size, undefined when
   * absent. A mismatch is handled as on get: moved aside, ERR_CONTENT_CORRUPT.
   */
  async verify(sha256: string): Promise<number | undefined> {
    let actual: string;
    try {
      actual = await sha256File(this.pathOf(sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new MagnetError('ERR_CONTENT_READ', `cannot read ${sha256} from the embedded store: ${errorMessage(err)}`);
    }
    const size = (await this.stat(sha256))?.size;
    await this.checkHash(sha256, actual);
    return size;
  }

  private async checkHash(sha256: string, actual: string): Promise<void> {
    if (actual === sha256) return;
    // Keep the evidence aside; the content name is freed so a good copy can take its place.
    await rename(this.pathOf(sha256), join(this.tmpDir, `${sha256}.corrupt`)).catch(() => undefined);
    throw new MagnetError('ERR_CONTENT_CORRUPT', `stored content ${sha256} is corrupted (hashes to ${actual})`, { sha256, actual });
  }

  async has(ref: ContentRef): Promise<boolean> {
    return (await this.stat(ref.sha256)) !== undefined;
  }

  async unpin(ref: ContentRef): Promise<void> {
    await rm(this.pathOf(ref.sha256), { force: true });
  }

  async available(): Promise<boolean> {
    return true;
  }

  /** sha256 names of every complete file, in name order. */
  async list(): Promise<string[]> {
    const out: string[] = [];
    const tops = (await readdir(this.dir).catch(() => [] as string[])).filter((d) => /^[0-9a-f]{2}$/.test(d)).sort();
    for (const top of tops) for (const f of (await readdir(join(this.dir, top))).sort()) if (HEX64.test(f)) out.push(f);
    return out;
  }

  // BlobBackend: the data plane reads and delivers blobs straight from and to this store; what it may deliver is
  // decided by the storage part's upload gate.

  setUploadGate(gate: UploadGate): void {
    this.uploads = gate;
  }

  async admit(u: Upload): Promise<() => void> {
    if (!this.uploads) throw new Refusal('not_placed', 'this store takes no blob from peers', u.sender);
    return this.uploads.admit(u);
  }

  touch(sender: string, sha256: string): void {
    this.uploads?.touch(sender, sha256);
  }

  async release(sender: string, manifestId: string): Promise<{ released: number; bytes: number; kept: number }> {
    if (!this.uploads) throw new Refusal('not_found', 'this store holds nothing for peers', sender);
    return this.uploads.release(sender, manifestId);
  }

  async stat(sha256: string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.pathOf(sha256));
      return { size: s.size };
    } catch {
      return undefined;
    }
  }

  async *read(sha256: string, offset: number): AsyncIterable<Uint8Array> {
    yield* createReadStream(this.pathOf(sha256), { start: offset, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }

  async accept(sha256: string, file: string, u?: Upload): Promise<void> {
    const actual = await sha256File(file);
    if (actual !== sha256) throw new MagnetError('ERR_CONTENT_CORRUPT', `refused ${file}: it hashes to ${actual}, not ${sha256}`);
    if (u) {
      if (!this.uploads) throw new Refusal('not_placed', 'this store takes no blob from peers', u.sender);
      await this.uploads.beforeAccept(u, file);
    }
    await this.keep(sha256, file);
    if (u) this.uploads?.accepted(u);
  }

  private async keep(sha256: string, file: string): Promise<void> {
    try {
      await this.place(file, sha256);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw writeError(err, this.dir, sha256);
      const tmp = join(this.tmpDir, `${sha256}.${randomBytes(4).toString('hex')}`);
      try {
        await copyFile(file, tmp);
        await this.place(tmp, sha256);
        await rm(file, { force: true });
      } catch (e) {
        await rm(tmp, { force: true });
        throw writeError(e, this.dir, sha256);
      }
    }
  }

  private async place(file: string, sha256: string): Promise<void> {
    const dest = this.pathOf(sha256);
    await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
    await rename(file, dest);
  }
}

function writeError(err: unknown, dir: string, sha256: string): MagnetError {
  if (err instanceof MagnetError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (FULL.has(code))
    return new MagnetError('ERR_DISK_FULL', `no space left to store ${sha256} in ${dir} (${code}); nothing partial was kept`, {
      dir,
      code,
    });
  return new MagnetError('ERR_CONTENT_WRITE', `cannot store ${sha256} in ${dir}: ${errorMessage(err)}; nothing partial was kept`, {
    dir,
    code,
  });
}
