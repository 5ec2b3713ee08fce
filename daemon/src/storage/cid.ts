import { createHash } from 'node:crypto';
import * as dagPb from '@ipld/dag-pb';
import { UnixFS } from 'ipfs-unixfs';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { create as createDigest } from 'multiformats/hashes/digest';

/** UnixFS chunk size and links per node of kubo's `unixfs-v1-2025` profile (IPIP-499). */
export const CHUNK_SIZE = 1 << 20;
const MAX_LINKS = 1024;
const SHA2_256 = 0x12;

/** The options that make kubo `add` produce the CIDs `contentCid` computes. */
export const KUBO_ADD_OPTIONS = { cidVersion: 1, rawLeaves: true, chunker: `size-${CHUNK_SIZE}`, hashAlg: 'sha2-256' } as const;

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
  if (bytes.length <= CHUNK_SIZE) return sha256Cid(raw.code, bytes).toString();
  let level: Node[] = [];
  for (let off = 0; off < bytes.length; off += CHUNK_SIZE) {
    const chunk = bytes.subarray(off, Math.min(off + CHUNK_SIZE, bytes.length));
    level.push({ cid: sha256Cid(raw.code, chunk), fileSize: chunk.length, treeSize: chunk.length });
  }
  while (level.length > 1) {
    const next: Node[] = [];
    for (let i = 0; i < level.length; i += MAX_LINKS) next.push(fileNode(level.slice(i, i + MAX_LINKS)));
    level = next;
  }
  return level[0]!.cid.toString();
}

function fileNode(children: Node[]): Node {
  const unixfs = new UnixFS({ type: 'file', blockSizes: children.map((c) => BigInt(c.fileSize)) });
  const block = dagPb.encode({ Data: unixfs.marshal(), Links: children.map((c) => ({ Hash: c.cid, Name: '', Tsize: c.treeSize })) });
  const fileSize = children.reduce((n, c) => n + c.fileSize, 0);
  const treeSize = children.reduce((n, c) => n + c.treeSize, block.length);
  return { cid: sha256Cid(dagPb.code, block), fileSize, treeSize };
}
