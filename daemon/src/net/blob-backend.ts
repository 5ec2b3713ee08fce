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
  /** Takes ownership of a complete, hash-verified file (moved, not copied, when on the same filesystem). */
  accept(sha256: string, file: string): Promise<void>;
  /** True for blobs anyone may fetch (certified checkpoints); everything else is for members only. */
  isPublic?(sha256: string): boolean;
}
