/** How a stored piece of content is named: its sha256 (our identity) and its kubo-compatible CID. */
export interface ContentRef {
  sha256: string;
  cid: string;
}

/**
 * A place that keeps shards and manifests by content. Every implementation runs the same compliance suite
 * (test/helpers/content-store-compliance.ts): same CIDs for the same bytes, verified reads, pin/unpin, clear errors.
 */
export interface ContentStore {
  readonly name: string;
  /** Stores and pins the bytes; returns their sha256 and CID. Idempotent. */
  put(bytes: Uint8Array): Promise<ContentRef>;
  /** The bytes, checked against ref.sha256; undefined when absent; ERR_CONTENT_CORRUPT when they do not match. */
  get(ref: ContentRef): Promise<Uint8Array | undefined>;
  /** True when the content is stored and pinned here. */
  has(ref: ContentRef): Promise<boolean>;
  /** Stops keeping the content (kubo frees it at its next GC). Absent content is not an error. */
  unpin(ref: ContentRef): Promise<void>;
  /** Whether the store answers right now (kubo may be down). */
  available(): Promise<boolean>;
}
