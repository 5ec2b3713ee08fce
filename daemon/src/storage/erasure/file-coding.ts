import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { MagnetError } from '../../util/errors.js';
import { ContentHasher } from '../cid.js';
import type { ContentRef } from '../stores/content-store.js';
import { type ReedSolomon, shardSizeFor } from './reed-solomon.js';

/**
 * Bytes of each shard coded at once. Reed-Solomon works column by column (byte j of every shard depends only on byte
 * j of the others), so a blob of any size is coded in windows of this many bytes per shard: (K+M) x 4 MiB in memory.
 */
export const WINDOW_BYTES = 4 << 20;

export interface ShardFile {
  file: string;
  size: number;
}

export interface CodedShard extends ShardFile {
  ref: ContentRef;
}

export interface CodedFile {
  blob: { sha256: string; size: number };
  shardSize: number;
  /** K data then M parity shards, as files in the work directory. */
  shards: CodedShard[];
}

/**
 * Splits `src` into K data shard files (the last zero-padded) and codes M parity files beside them in `workDir`,
 * window by window: the blob is read twice (once in order, for its hash and the data shards; once by windows of
 * the data shards for parity) and never held whole. Each file is fsynced; the caller deletes the directory.
 */
export async function encodeFile(rs: ReedSolomon, src: string, workDir: string, window = WINDOW_BYTES): Promise<CodedFile> {
  const { k, m } = rs;
  const blobHash = createHash('sha256');
  let size = 0;
  const input = await open(src, 'r');
  const total = (await input.stat()).size;
  const shardSize = shardSizeFor(total, k);
  const files = Array.from({ length: k + m }, (_, i) => join(workDir, `shard-${i}`));
  const hashers = files.map(() => new ContentHasher());
  const data = await Promise.all(files.slice(0, k).map((f) => open(f, 'wx+', 0o600)));
  try {
    // Pass 1: the blob in order, into the data shards.
    // One reused read buffer: a fresh one per read would be garbage that the GC frees late, megabytes at a time.
    const readBuf = Buffer.allocUnsafe(Math.min(1 << 20, Math.max(1, total)));
    while (size < total) {
      const { bytesRead } = await input.read(readBuf, 0, Math.min(readBuf.length, total - size), size);
      if (bytesRead === 0) throw new MagnetError('ERR_BLOB_CHANGED', `${src} shrank while it was read (${total} bytes, then ${size})`);
      const chunk = readBuf.subarray(0, bytesRead);
      blobHash.update(chunk);
      let off = 0;
      while (off < chunk.length) {
        const shard = Math.floor(size / shardSize);
        const n = Math.min(chunk.length - off, (shard + 1) * shardSize - size);
        const piece = chunk.subarray(off, off + n);
        await writeAll(data[shard]!, piece);
        hashers[shard]!.update(piece);
        off += n;
        size += n;
      }
    }
    const zeros = Buffer.alloc(Math.min(window, shardSize));
    for (let at = size; at < k * shardSize;) {
      const shard = Math.floor(at / shardSize);
      const n = Math.min(zeros.length, (shard + 1) * shardSize - at);
      await writeAll(data[shard]!, zeros.subarray(0, n));
      hashers[shard]!.update(zeros.subarray(0, n));
      at += n;
    }
    // Pass 2: parity, window by window over the data shards.
    const parity = await Promise.all(files.slice(k).map((f) => open(f, 'wx', 0o600)));
    try {
      const dataBufs = Array.from({ length: k }, () => Buffer.allocUnsafe(Math.min(window, shardSize)));
      const parityBufs = Array.from({ length: m }, () => Buffer.allocUnsafe(Math.min(window, shardSize)));
      for (let off = 0; off < shardSize; off += window) {
        const n = Math.min(window, shardSize - off);
        const d = dataBufs.map((b) => b.subarray(0, n));
        const p = parityBufs.map((b) => b.subarray(0, n));
        await Promise.all(d.map((b, i) => readAll(data[i]!, b, off)));
        await rs.encodeInto(d, p);
        for (let j = 0; j < m; j++) {
          await writeAll(parity[j]!, p[j]!);
          hashers[k + j]!.update(p[j]!);
        }
      }
      await Promise.all([...data, ...parity].map((fh) => fh.sync()));
    } finally {
      await Promise.all(parity.map((fh) => fh.close()));
    }
  } finally {
    await Promise.all([input, ...data].map((fh) => fh.close()));
  }
  return {
    blob: { sha256: blobHash.digest('hex'), size },
    shardSize,
    shards: files.map((file, i) => ({ file, size: shardSize, ref: hashers[i]!.digest() })),
  };
}

/**
 * Rebuilds the shards listed in `want` from any K of the present ones (`present[i]` a file, or undefined when
 * absent), window by window into new files in `workDir`. Returns the rebuilt shards by index (a wanted shard that is
 * present and among the K read is not rebuilt: its file is the one given).
 */
export async function rebuildFiles(
  rs: ReedSolomon,
  present: ReadonlyArray<string | undefined>,
  shardSize: number,
  want: readonly number[],
  workDir: string,
  window = WINDOW_BYTES,
): Promise<Map<number, CodedShard>> {
  const { k, m } = rs;
  const use = present.flatMap((f, i) => (f === undefined ? [] : [i])).slice(0, k);
  if (use.length < k)
    throw new MagnetError('ERR_RS_TOO_FEW', `only ${use.length} of ${k + m} shards present; at least ${k} are needed to rebuild`, {
      present: use.length,
      k,
    });
  const targets = want.filter((i) => !use.includes(i));
  const out = new Map<number, CodedShard>();
  const inputs = await Promise.all(use.map((i) => open(present[i]!, 'r')));
  const outputs = await Promise.all(targets.map((i) => open(join(workDir, `rebuilt-${i}`), 'wx', 0o600)));
  const hashers = targets.map(() => new ContentHasher());
  try {
    const bufs = Array.from({ length: k + m }, () => Buffer.allocUnsafe(Math.min(window, shardSize)));
    const flags = Array.from({ length: k + m }, (_, i) => use.includes(i));
    for (let off = 0; off < shardSize; off += window) {
      const n = Math.min(window, shardSize - off);
      const w = bufs.map((b) => b.subarray(0, n));
      await Promise.all(use.map((idx, j) => readAll(inputs[j]!, w[idx]!, off)));
      await rs.reconstructInto(w, flags);
      for (let j = 0; j < targets.length; j++) {
        await writeAll(outputs[j]!, w[targets[j]!]!);
        hashers[j]!.update(w[targets[j]!]!);
      }
    }
    await Promise.all(outputs.map((fh) => fh.sync()));
  } finally {
    await Promise.all([...inputs, ...outputs].map((fh) => fh.close()));
  }
  targets.forEach((idx, j) => out.set(idx, { file: join(workDir, `rebuilt-${idx}`), size: shardSize, ref: hashers[j]!.digest() }));
  return out;
}

/** Writes the first `size` bytes of the K data shard files, in order, to `dest` (created or replaced, fsynced); returns their sha256. */
export async function joinFiles(data: readonly string[], size: number, dest: string): Promise<string> {
  const hash = createHash('sha256');
  const out = await open(dest, 'w', 0o600);
  try {
    let left = size;
    for (const file of data) {
      if (left === 0) break;
      for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, end: Math.max(0, left - 1) }) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        await writeAll(out, chunk);
        left -= chunk.length;
      }
    }
    if (left !== 0) throw new MagnetError('ERR_RS_JOIN', `the data shards hold ${size - left} bytes, the blob has ${size}`);
    await out.sync();
  } finally {
    await out.close();
  }
  return hash.digest('hex');
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
}

async function readAll(fh: FileHandle, into: Uint8Array, position: number): Promise<void> {
  for (let off = 0; off < into.length;) {
    const { bytesRead } = await fh.read(into, off, into.length - off, position + off);
    if (bytesRead === 0) throw new MagnetError('ERR_RS_SHARDS', `a shard file ends at ${position + off}, before ${position + into.length}`);
    off += bytesRead;
  }
}
