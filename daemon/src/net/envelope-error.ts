/** Why an envelope was refused; the label of the refusal metric and the key of the gRPC status mapping. */
export type EnvelopeReason =
  | 'missing_metadata'
  | 'bad_metadata'
  | 'bad_version'
  | 'wrong_auth_mode'
  | 'stale_timestamp'
  | 'future_timestamp'
  | 'replayed_nonce'
  | 'nonce_cache_full'
  | 'peer_nonce_limit'
  | 'bad_signature'
  | 'high_s'
  | 'signer_mismatch'
  | 'bad_hmac'
  | 'unexpected_signer'
  | 'nonce_mismatch';

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  constructor(
    readonly reason: EnvelopeReason,
    message: string,
    /** The nodeId the sender claimed, when it got that far (for the log line). */
    readonly claimedNodeId?: string,
  ) {
    super(message);
  }
}
