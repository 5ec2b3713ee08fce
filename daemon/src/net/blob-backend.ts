/** Why a peer puts a blob on this node, as its signed PutBlob header says (see proto/magnet/v1/data.proto). */
export const UPLOAD_PURPOSES = ['manifest', 'shard', 'gradient'] as const;
export type UploadPurpose = (typeof UPLOAD_PURPOSES)[number];

/** What the sender says places the blob here; the receiver checks it against its own view. */
export interface Placement {
  purpose: UploadPurpose;
  /** shard: the signed manifest that lists it (sent to the holder first). */
  manifestId?: string;
  /** gradient: the round the receiver leads. */
  round?: number;
}

/** One upload as the receiver sees it once the header verified: who sends what, and why. */
export interface Upload extends Placement {
  sender: string;
  sha256: string;
  size: number;
  /** Bytes of partial uploads lying in staging (not in flight): this sender's and everyone's; they count against the quotas. */
  staged: { peer: number; all: number };
}

/**
 * Where the data plane keeps whole blobs, keyed by the sha256 (hex) of their bytes. The net part receives
 * chunks into a staging file, checks the final hash, and only then hands the file over with `accept`;
 * the storage part implements this interface with its content store.
 */
export interface BlobBackend {
  /** Size of a complete local blob; undefined when absent. */
  stat(sha256: string): Promise<{ size: number } | undefined>;
  /** The blob's bytes from `offset` to the end. */
  read(sha256: string, offset: number): AsyncIterable<Uint8Array>;
  /**
   * Decides, before a byte is staged, whether the upload may land here: a placement that puts it on this node, the
   * sender's and the node's byte quotas, the disk's free space. Throws a Refusal (not_placed, peer_quota_exceeded,
   * quota_exceeded, disk_low); returns the release of the bytes it reserved for the upload.
   */
  admit(u: Upload): Promise<() => void>;
  /**
   * Takes ownership of a complete, hash-verified file admitted for `u` (moved, not copied, when on the same
   * filesystem). May still refuse it for what it is (bad_manifest); the caller deletes the file then.
   */
  accept(sha256: string, file: string, u: Upload): Promise<void>;
  /** The sender of a blob asked whether this node still holds it: the lease on it is renewed. */
  touch?(sender: string, sha256: string): void;
  /**
   * ReleaseBlob: `sender` lets this node delete manifest `manifestId` and the shards placed under it. Throws a Refusal
   * (not_found, not_owner) unless every one of them was placed by `sender`.
   */
  release?(sender: string, manifestId: string): Promise<{ released: number; bytes: number; kept: number }>;
  /** True for blobs anyone may fetch (certified checkpoints); everything else is for members only. */
  isPublic?(sha256: string): boolean;
}
