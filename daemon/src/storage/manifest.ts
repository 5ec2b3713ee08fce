import { type SigningKey, Signature, computeAddress, recoverAddress } from 'ethers';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import type { NodeIdentity } from '../identity/identity.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { contentCid, sha256Hex } from './cid.js';
import { MAX_TOTAL_SHARDS } from './erasure/wasm-codec.js';

export interface ShardEntry {
  index: number;
  sha256: string;
  /** kubo-compatible CID (CIDv1, raw leaves, sha2-256, unixfs-v1-2025 chunking). */
  cid: string;
  /** nodeIds the creator placed this shard on (live holders are tracked by the repair loop). */
  holders: string[];
}

export interface Manifest {
  version: 1;
  /** What the blob is: checkpoint, gradient, model or blob. */
  kind: string;
  blob: { sha256: string; size: number };
  k: number;
  m: number;
  shardSize: number;
  shards: ShardEntry[];
  createdAt: number;
  creator: { nodeId: string; address: string; publicKey: string };
}

export interface SignedManifest {
  manifest: Manifest;
  /** 65-byte secp256k1 signature (0x hex) over manifestDigest(manifest). */
  signature: string;
}

const DOMAIN = 'magnet-node/manifest/v1\n';
/** Largest manifest a node reads or takes from a peer (255 shards with a few holders each fit many times over). */
export const MAX_MANIFEST_BYTES = 1 << 20;
const HEX64 = /^[0-9a-f]{64}$/;
const COMPRESSED_KEY = /^0x0[23][0-9a-fA-F]{64}$/;

/** JSON with sorted keys and no spaces: one byte string per value, so hashes and signatures are stable. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new MagnetError('ERR_MANIFEST', 'manifest numbers must be finite');
  return JSON.stringify(value);
}

export function manifestDigest(m: Manifest): string {
  return `0x${sha256Hex(Buffer.from(DOMAIN + canonicalJson(m)))}`;
}

export function signManifest(
  m: Manifest,
  identity: Pick<NodeIdentity, 'signingKey'>,
): { signed: SignedManifest; bytes: Buffer; id: string } {
  validateManifest(m);
  const signed: SignedManifest = { manifest: m, signature: identity.signingKey.sign(manifestDigest(m)).serialized };
  const bytes = Buffer.from(canonicalJson(signed));
  return { signed, bytes, id: sha256Hex(bytes) };
}

/**
 * A signed manifest of one blob kept whole (K=1, M=1: both shards are the blob itself), made by `key`'s node: how a
 * blob is placed whole on peers (the storage benchmark's plain copies, tests). Send it first, then the blob as
 * its shard under the returned id.
 */
export function wholeBlobManifest(
  blob: Uint8Array,
  key: SigningKey,
  holders: string[],
  kind = 'whole',
  now = Date.now(),
): { bytes: Buffer; id: string } {
  const sha256 = sha256Hex(blob);
  const shard = { sha256, cid: contentCid(blob), holders };
  const m: Manifest = {
    version: 1,
    kind,
    blob: { sha256, size: blob.length },
    k: 1,
    m: 1,
    shardSize: Math.max(1, blob.length),
    shards: [
      { index: 0, ...shard },
      { index: 1, ...shard },
    ],
    createdAt: now,
    creator: {
      nodeId: nodeIdFromPublicKey(key.compressedPublicKey),
      address: computeAddress(key.publicKey),
      publicKey: key.compressedPublicKey,
    },
  };
  const { bytes, id } = signManifest(m, { signingKey: key });
  return { bytes, id };
}

/**
 * Reads manifest bytes fetched under `id`: the bytes must hash to the id, be canonical, well formed, and carry
 * a valid low-s signature by the key the creator names. Anything else is refused with ERR_MANIFEST_*.
 */
export function verifyManifest(bytes: Uint8Array, id: string): SignedManifest {
  const actual = sha256Hex(bytes);
  if (actual !== id) throw new MagnetError('ERR_MANIFEST_HASH', `manifest ${id} refused: its bytes hash to ${actual}`, { id, actual });
  let signed: SignedManifest;
  try {
    signed = JSON.parse(Buffer.from(bytes).toString('utf8')) as SignedManifest;
  } catch (err) {
    throw new MagnetError('ERR_MANIFEST_FORMAT', `manifest ${id} refused: not JSON (${errorMessage(err)})`, { id });
  }
  if (canonicalJson(signed) !== Buffer.from(bytes).toString('utf8'))
    throw new MagnetError('ERR_MANIFEST_FORMAT', `manifest ${id} refused: not in canonical form`, { id });
  validateManifest(signed.manifest);
  const { creator } = signed.manifest;
  let signer: string;
  try {
    const sig = Signature.from(signed.signature);
    if (!sig.isValid()) throw new Error('high-s or malformed signature');
    signer = recoverAddress(manifestDigest(signed.manifest), sig);
  } catch (err) {
    throw new MagnetError('ERR_MANIFEST_SIGNATURE', `manifest ${id} refused: unreadable signature (${errorMessage(err)})`, { id });
  }
  const keyAddress = computeAddress(creator.publicKey);
  if (signer !== creator.address || keyAddress !== creator.address || nodeIdFromPublicKey(creator.publicKey) !== creator.nodeId) {
    throw new MagnetError('ERR_MANIFEST_SIGNATURE', `manifest ${id} refused: the signature is not by its creator ${creator.nodeId}`, {
      id,
      signer,
    });
  }
  return signed;
}

/** Structural checks, so later code can trust indexes, sizes and hashes. */
export function validateManifest(m: Manifest): void {
  const bad = (what: string): never => {
    throw new MagnetError('ERR_MANIFEST_FORMAT', `bad manifest: ${what}`);
  };
  if (typeof m !== 'object' || m === null) bad('not an object');
  if (m.version !== 1) bad(`version ${String(m.version)} (this node reads version 1)`);
  if (typeof m.kind !== 'string' || m.kind.length === 0 || m.kind.length > 64) bad('kind must be a short string');
  if (!m.blob || !HEX64.test(m.blob.sha256) || !Number.isSafeInteger(m.blob.size) || m.blob.size < 0)
    bad('blob needs a sha256 (64 hex) and a size >= 0');
  if (!Number.isInteger(m.k) || !Number.isInteger(m.m) || m.k < 1 || m.m < 1 || m.k + m.m > MAX_TOTAL_SHARDS) bad(`K=${m.k}, M=${m.m}`);
  if (!Number.isSafeInteger(m.shardSize) || m.shardSize !== Math.max(1, Math.ceil(m.blob.size / m.k)))
    bad(`shard size ${m.shardSize} does not fit blob size ${m.blob.size} and K=${m.k}`);
  if (!Array.isArray(m.shards) || m.shards.length !== m.k + m.m) bad(`expected ${m.k + m.m} shards`);
  m.shards.forEach((s, i) => {
    if (s.index !== i) bad(`shard ${i} has index ${s.index}`);
    if (!HEX64.test(s.sha256)) bad(`shard ${i} sha256`);
    if (typeof s.cid !== 'string' || s.cid.length < 8) bad(`shard ${i} cid`);
    if (!Array.isArray(s.holders) || s.holders.some((h) => typeof h !== 'string')) bad(`shard ${i} holders`);
  });
  if (!Number.isSafeInteger(m.createdAt)) bad('createdAt');
  if (
    !m.creator ||
    typeof m.creator.nodeId !== 'string' ||
    typeof m.creator.address !== 'string' ||
    !COMPRESSED_KEY.test(m.creator.publicKey)
  )
    bad('creator (nodeId, address, 33-byte compressed publicKey)');
}
