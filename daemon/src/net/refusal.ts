import { status } from '@grpc/grpc-js';
import type { EnvelopeReason } from './envelope.js';

/** Every reason the net part refuses something. Each is a label of magnet_net_refused_total. */
export type RefusalReason =
  | EnvelopeReason
  | 'oversize'
  | 'bad_protobuf'
  | 'bad_field'
  | 'rate_limited'
  | 'too_many_streams'
  | 'bad_binding'
  | 'cert_pin_mismatch'
  | 'wrong_network'
  | 'blob_too_large'
  | 'bad_offset'
  | 'bad_chunk'
  | 'size_mismatch'
  | 'hash_mismatch'
  | 'not_found'
  | 'unknown_peer'
  | 'not_member'
  | 'not_public'
  | 'peer_table_full'
  | 'ip_range_full'
  | 'cert_identity_mismatch'
  | 'ip_rate_limited'
  | 'not_placed'
  | 'bad_manifest'
  | 'peer_quota_exceeded'
  | 'quota_exceeded'
  | 'disk_low'
  | 'answer_too_large'
  | 'not_owner';

/** The gRPC status each refusal answers with: specific, so a client can tell them apart. */
export const REFUSAL_STATUS: Record<RefusalReason, status> = {
  missing_metadata: status.UNAUTHENTICATED,
  bad_metadata: status.UNAUTHENTICATED,
  bad_version: status.UNAUTHENTICATED,
  wrong_auth_mode: status.UNAUTHENTICATED,
  stale_timestamp: status.UNAUTHENTICATED,
  future_timestamp: status.UNAUTHENTICATED,
  bad_signature: status.UNAUTHENTICATED,
  high_s: status.UNAUTHENTICATED,
  signer_mismatch: status.UNAUTHENTICATED,
  bad_hmac: status.UNAUTHENTICATED,
  unexpected_signer: status.UNAUTHENTICATED,
  nonce_mismatch: status.UNAUTHENTICATED,
  replayed_nonce: status.ALREADY_EXISTS,
  nonce_cache_full: status.RESOURCE_EXHAUSTED,
  oversize: status.RESOURCE_EXHAUSTED,
  rate_limited: status.RESOURCE_EXHAUSTED,
  too_many_streams: status.RESOURCE_EXHAUSTED,
  blob_too_large: status.RESOURCE_EXHAUSTED,
  bad_protobuf: status.INVALID_ARGUMENT,
  bad_field: status.INVALID_ARGUMENT,
  bad_chunk: status.INVALID_ARGUMENT,
  size_mismatch: status.INVALID_ARGUMENT,
  bad_binding: status.PERMISSION_DENIED,
  cert_pin_mismatch: status.PERMISSION_DENIED,
  wrong_network: status.FAILED_PRECONDITION,
  bad_offset: status.OUT_OF_RANGE,
  hash_mismatch: status.DATA_LOSS,
  not_found: status.NOT_FOUND,
  unknown_peer: status.FAILED_PRECONDITION,
  not_member: status.PERMISSION_DENIED,
  not_public: status.PERMISSION_DENIED,
  peer_table_full: status.RESOURCE_EXHAUSTED,
  ip_range_full: status.RESOURCE_EXHAUSTED,
  cert_identity_mismatch: status.PERMISSION_DENIED,
  peer_nonce_limit: status.RESOURCE_EXHAUSTED,
  ip_rate_limited: status.RESOURCE_EXHAUSTED,
  /** PutBlob of something no signed placement puts on this node (no manifest, not a round it leads, ...). */
  not_placed: status.PERMISSION_DENIED,
  bad_manifest: status.INVALID_ARGUMENT,
  peer_quota_exceeded: status.RESOURCE_EXHAUSTED,
  quota_exceeded: status.RESOURCE_EXHAUSTED,
  disk_low: status.RESOURCE_EXHAUSTED,
  /** Client side: a peer's answer larger than announced or than this node expects (never sent, only counted). */
  answer_too_large: status.RESOURCE_EXHAUSTED,
  /** ReleaseBlob of a blob the caller did not place here: nothing is deleted. */
  not_owner: status.PERMISSION_DENIED,
};

/** Thrown inside handlers; the server turns it into the status above, a log line and a metric. */
export class Refusal extends Error {
  override readonly name = 'Refusal';
  constructor(
    readonly reason: RefusalReason,
    message: string,
    /** The nodeId the sender claimed, when known. */
    readonly sender?: string,
  ) {
    super(message);
  }
  get code(): status {
    return REFUSAL_STATUS[this.reason];
  }
}

/** A plain non-OK answer that is not a refusal (e.g. UNIMPLEMENTED): not counted as refused. */
export class RpcStatus extends Error {
  override readonly name = 'RpcStatus';
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}
