import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as dagPb from '@ipld/dag-pb';
import { UnixFS } from 'ipfs-unixfs';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { create as createDigest } from 'multiformats/hashes/digest';
import type { ContentRef } from './stores/content-store.js';

/** UnixFS chunk size and links per node of kubo's `unixfs-v1-2025` profile (IPIP-499). */
export const CHUNK_SIZE = 1 << 20;
const MAX_LINKS = 1024;
const SHA2_256 = 0x12;

/**
 * The options that make kubo `add` produce the CIDs `contentCid` computes. `max-file-links` matters above 174 MiB:
 * kubo's default file node holds 174 links unless its config says otherwise (the unixfs-v1-2025 profile says 1024).
 */
export const KUBO_ADD_OPTIONS = {
  cidVersion: 1,
  rawLeaves: true,
  chunker: `size-${CHUNK_SIZE}`,
  hashAlg: 'sha2-256',
  'max-file-links': MAX_LINKS,
} as const;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function sha256Cid(code: number, bytes: Uint8Array): CID {
  return CID.createV1(code, createDigest(SHA2_256, createHash('sha256').update(bytes).digest()));
}

interface Node {
  cid: CID;
  /** File bytes below this node. */
  fileSize: number;
  /** Bytes of every block below and including this node (the dag-pb link Tsize). */
  treeSize: number;
}

/**
 * The CID kubo gives these bytes with `KUBO_ADD_OPTIONS` (balanced layout): up to 1 MiB it is CIDv1 raw of the
 * bytes themselves; above, a dag-pb UnixFS file node over 1 MiB raw leaves, 1024 links per node. Computing it here
 * lets the embedded store and kubo address a shard by the same CID without talking to kubo.
 */
export function contentCid(bytes: Uint8Array): string {
  return new ContentHasher().update(bytes).digest().cid;
}

/**
 * sha256 and kubo CID of bytes fed in pieces of any size: what a file or a stream hashes to without holding it. Keeps
 * one 1 MiB chunk in hand and one leaf CID per MiB.
 */
export class ContentHasher {
  private readonly sha = createHash('sha256');
  private readonly leaves: Node[] = [];
  private readonly chunk = Buffer.allocUnsafe(CHUNK_SIZE);
  private filled = 0;
  size = 0;

  update(bytes: Uint8Array): this {
    this.sha.update(bytes);
    this.size += bytes.length;
    let off = 0;
    while (off < bytes.length) {
      // A full chunk is only cut into a leaf when more follows: a blob of exactly 1 MiB is one raw CID.
      if (this.filled === CHUNK_SIZE) this.leaf();
      const n = Math.min(CHUNK_SIZE - this.filled, bytes.length - off);
      this.chunk.set(bytes.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
    }
    return this;
  }

  digest(): ContentRef {
    const sha256 = this.sha.digest('hex');
    if (this.leaves.length === 0) return { sha256, cid: sha256Cid(raw.code, this.chunk.subarray(0, this.filled)).toString() };
    if (this.filled > 0) this.leaf();
    let level = this.leaves;
    while (level.length > 1) {
      const next: Node[] = [];
      for (let i = 0; i < level.length; i += MAX_LINKS) next.push(fileNode(level.slice(i, i + MAX_LINKS)));
      level = next;
    }
    return { sha256, cid: level[0]!.cid.toString() };
  }

  private leaf(): void {
    const piece = this.chunk.subarray(0, this.filled);
    this.leaves.push({ cid: sha256Cid(raw.code, piece), fileSize: piece.length, treeSize: piece.length });
    this.filled = 0;
  }
}

function fileNode(children: Node[]): Node {
  const unixfs = new UnixFS({ type: 'file', blockSizes: children.map((c) => BigInt(c.fileSize)) });
  const block = dagPb.encode({ Data: unixfs.marshal(), Links: children.map((c) => ({ Hash: c.cid, Name: '', Tsize: c.treeSize })) });
  const fileSize = children.reduce((n, c) => n + c.fileSize, 0);
  const treeSize = children.reduce((n, c) => n + c.treeSize, block.length);
  return { cid: sha256Cid(dagPb.code, block), fileSize, treeSize };
}

/** sha256 and kubo CID of a file, read in 1 MiB pieces. */
export async function hashFile(path: string): Promise<ContentRef & { size: number }> {
  const h = new ContentHasher();
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_SIZE }) as AsyncIterable<Buffer>) h.update(chunk);
  return { ...h.digest(), size: h.size };
}
