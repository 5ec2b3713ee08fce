import type { Upload } from '../net/blob-backend.js';
import { Refusal } from '../net/refusal.js';
import { errorMessage } from '../util/errors.js';
import { MAX_MANIFEST_BYTES, type Manifest, verifyManifest } from './manifest.js';

/** A gradient a peer wants to push here. */
export interface GradientPush {
  sender: string;
  round: number;
  sha256: string;
  size: number;
}

/** Asked by storage for every gradient upload (the DiLoCo part answers): undefined when expected, else why not. */
export type GradientGate = (p: GradientPush) => string | undefined;

/** What the placement check reads of this node's state. */
export interface PlacementView {
  /** A manifest this node holds, already verified; undefined when it holds none under that id. */
  manifest(id: string): Promise<Manifest | undefined>;
  gradients: GradientGate | undefined;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Whether an upload is placed on this node, from this node's own view (throws Refusal 'not_placed'):
 * - a manifest: from anyone the net part let through (members), at most MAX_MANIFEST_BYTES; once its bytes are in,
 *   `checkManifestUpload` requires a valid signature by the sender itself;
 * - a shard: its signed PutBlob header (it names this node as the holder) comes from the creator of a manifest this
 *   node already holds, and that manifest lists the shard's hash and size. The creator's signed header is the
 *   placement (repairs move shards to holders the immutable manifest does not name, so the manifest's holder list
 *   is not required to name this node);
 * - a gradient: for a round this node leads, from a member that accepted the announcement (the DiLoCo part decides).
 * Checkpoints are never pushed: a node fetches the ones it wants (GetBlob, bounded by the size it expects).
 */
export async function checkPlacement(u: Upload, v: PlacementView): Promise<void> {
  const no = (why: string): never => {
    throw new Refusal('not_placed', why, u.sender);
  };
  switch (u.purpose) {
    case 'manifest':
      if (u.size > MAX_MANIFEST_BYTES)
        throw new Refusal('blob_too_large', `a manifest of ${u.size} bytes; manifests are at most ${MAX_MANIFEST_BYTES}`, u.sender);
      return;
    case 'shard': {
      const id = u.manifestId ?? '';
      if (!HEX64.test(id)) return no(`a shard upload must name its manifest (64 hex), got "${id.slice(0, 70)}"`);
      const m = await v.manifest(id);
      if (!m) return no(`manifest ${id} is not on this node: its creator sends it before the shards`);
      if (m.creator.nodeId !== u.sender) return no(`manifest ${id} is ${m.creator.nodeId}'s: only its creator places its shards`);
      if (!m.shards.some((s) => s.sha256 === u.sha256)) return no(`manifest ${id} lists no shard ${u.sha256}`);
      if (u.size !== m.shardSize) return no(`a shard of ${u.size} bytes; the shards of manifest ${id} are ${m.shardSize} bytes`);
      return;
    }
    case 'gradient': {
      const why = v.gradients
        ? v.gradients({ sender: u.sender, round: u.round ?? -1, sha256: u.sha256, size: u.size })
        : 'this node takes no gradients (it runs no rounds)';
      if (why !== undefined) no(`gradient for round ${u.round}: ${why}`);
      return;
    }
    default:
      no(`unknown purpose ${String(u.purpose)}`);
  }
}

/** The manifest a peer uploaded, once its bytes are in: well formed, signed by its creator, and that is the sender. */
export function checkManifestUpload(u: Upload, bytes: Uint8Array): Manifest {
  let m: Manifest;
  try {
    m = verifyManifest(bytes, u.sha256).manifest;
  } catch (err) {
    throw new Refusal('bad_manifest', `the manifest does not verify: ${errorMessage(err)}`, u.sender);
  }
  if (m.creator.nodeId !== u.sender)
    throw new Refusal(
      'bad_manifest',
      `a manifest created by ${m.creator.nodeId}, sent by ${u.sender}: only creators send their manifests`,
      u.sender,
    );
  return m;
}
