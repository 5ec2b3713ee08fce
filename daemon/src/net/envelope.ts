import { createHash, createHmac, createPublicKey, type KeyObject, randomBytes, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';
import { SigningKey } from 'ethers';
import { NODE_ID_PATTERN } from '../identity/node-id.js';
import { SignatureError, checkSignatureBytes, recoverSigner as recoverWalletSigner, signDigest } from '../identity/signature.js';
import { EnvelopeError } from './envelope-error.js';
import type { NonceCache } from './nonce-cache.js';

/**
 * The signed-request envelope (pure: no I/O, no clock unless given). Every RPC carries in its metadata the
 * version, auth mode, nodeId, unix-ms timestamp, a random 16-byte nonce and a signature over
 *
 *   sha256( "magnet-rpc/1" ‖ direction(1 B: 1 request, 2 response) ‖ u16be len ‖ method ‖ u16be len ‖ nodeId
 *           ‖ u64be timestamp ‖ nonce(16 B) ‖ sha256(message bytes) )
 *
 * The length prefixes keep (method, nodeId) unambiguous; the direction byte keeps a response from ever
 * passing as a request. A response reuses its request's nonce, which ties it to that request.
 * Wallet mode: 65-byte r ‖ s ‖ recovery id, low s, the recovered key must hash to nodeId.
 * HMAC mode: HMAC-SHA256(cluster secret, digest), compared in constant time.
 */
export const ENVELOPE_VERSION = '1';
export const DOMAIN = Buffer.from('magnet-rpc/1', 'utf8');
export const NONCE_BYTES = 16;
export type AuthMode = 'wallet' | 'hmac';
export type Direction = 'request' | 'response';

export const MD = {
  version: 'magnet-v',
  auth: 'magnet-auth',
  nodeId: 'magnet-node',
  timestamp: 'magnet-ts',
  nonce: 'magnet-nonce',
  signature: 'magnet-sig',
} as const;

export interface Envelope {
  version: string;
  mode: AuthMode;
  nodeId: string;
  timestamp: number;
  nonce: Buffer;
  signature: Buffer;
}

export { EnvelopeError, type EnvelopeReason } from './envelope-error.js';
export { NonceCache, type NonceCacheOptions } from './nonce-cache.js';

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** The 32-byte digest both modes sign: sha256 of the preimage below. */
export function envelopeDigest(
  direction: Direction,
  method: string,
  nodeId: string,
  timestamp: number,
  nonce: Uint8Array,
  body: Uint8Array,
): Buffer {
  return sha256(envelopePreimage(direction, method, nodeId, timestamp, nonce, body));
}

/** The bytes whose sha256 is signed (OpenSSL's verify hashes them itself, see EnvelopeVerifier's fast path). */
export function envelopePreimage(
  direction: Direction,
  method: string,
  nodeId: string,
  timestamp: number,
  nonce: Uint8Array,
  body: Uint8Array,
): Buffer {
  if (nonce.length !== NONCE_BYTES) throw new RangeError(`nonce must be ${NONCE_BYTES} bytes, got ${nonce.length}`);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError(`timestamp must be a non-negative integer, got ${timestamp}`);
  const m = Buffer.from(method, 'utf8');
  const n = Buffer.from(nodeId, 'utf8');
  const head = Buffer.alloc(1 + 2);
  head.writeUInt8(direction === 'request' ? 1 : 2, 0);
  head.writeUInt16BE(m.length, 1);
  const nLen = Buffer.alloc(2);
  nLen.writeUInt16BE(n.length, 0);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(timestamp), 0);
  return Buffer.concat([DOMAIN, head, m, nLen, n, ts, nonce, sha256(body)]);
}

/** Something that signs envelope digests for one nodeId. */
export interface EnvelopeSigner {
  readonly mode: AuthMode;
  readonly nodeId: string;
  sign(digest: Buffer): Buffer;
}

export function walletSigner(key: SigningKey, nodeId: string): EnvelopeSigner {
  return {
    mode: 'wallet',
    nodeId,
    sign: (digest: Buffer): Buffer => signDigest(key, digest),
  };
}

export function hmacSigner(secret: Buffer, nodeId: string): EnvelopeSigner {
  return { mode: 'hmac', nodeId, sign: (digest) => createHmac('sha256', secret).update(digest).digest() };
}

export function signEnvelope(
  signer: EnvelopeSigner,
  direction: Direction,
  method: string,
  body: Uint8Array,
  opts: { now?: number; nonce?: Buffer } = {},
): Envelope {
  const timestamp = opts.now ?? Date.now();
  const nonce = opts.nonce ?? randomBytes(NONCE_BYTES);
  const signature = signer.sign(envelopeDigest(direction, method, signer.nodeId, timestamp, nonce, body));
  return { version: ENVELOPE_VERSION, mode: signer.mode, nodeId: signer.nodeId, timestamp, nonce, signature };
}

/** Metadata as plain string pairs (gRPC Metadata is filled from these by the caller). */
export function envelopeToPairs(env: Envelope): [string, string][] {
  return [
    [MD.version, env.version],
    [MD.auth, env.mode],
    [MD.nodeId, env.nodeId],
    [MD.timestamp, String(env.timestamp)],
    [MD.nonce, env.nonce.toString('hex')],
    [MD.signature, env.signature.toString('hex')],
  ];
}

const HEX = /^[0-9a-f]+$/;

/** Parses envelope fields from metadata values; refuses anything missing or malformed. */
export function envelopeFromPairs(get: (key: string) => string | undefined): Envelope {
  const values: Record<string, string | undefined> = {};
  const missing: string[] = [];
  for (const key of Object.values(MD)) {
    values[key] = get(key);
    if (values[key] === undefined || values[key] === '') missing.push(key);
  }
  const claimed = values[MD.nodeId];
  if (missing.length > 0) throw new EnvelopeError('missing_metadata', `missing envelope metadata: ${missing.join(', ')}`, claimed);
  const version = values[MD.version] as string;
  if (version !== ENVELOPE_VERSION)
    throw new EnvelopeError(
      'bad_version',
      `envelope version "${version}" is not supported (this node speaks ${ENVELOPE_VERSION})`,
      claimed,
    );
  const mode = values[MD.auth];
  if (mode !== 'wallet' && mode !== 'hmac')
    throw new EnvelopeError('bad_metadata', `auth mode "${mode}" is neither wallet nor hmac`, claimed);
  const nodeId = claimed as string;
  if (!NODE_ID_PATTERN.test(nodeId))
    throw new EnvelopeError('bad_metadata', `nodeId "${nodeId.slice(0, 40)}" is not node-<16 hex>`, claimed);
  const tsText = values[MD.timestamp] as string;
  if (!/^\d{1,16}$/.test(tsText))
    throw new EnvelopeError('bad_metadata', `timestamp "${tsText.slice(0, 20)}" is not unix milliseconds`, nodeId);
  const nonceHex = values[MD.nonce] as string;
  if (nonceHex.length !== NONCE_BYTES * 2 || !HEX.test(nonceHex))
    throw new EnvelopeError('bad_metadata', `nonce must be ${NONCE_BYTES} bytes of lowercase hex`, nodeId);
  const sigHex = values[MD.signature] as string;
  if (sigHex.length % 2 !== 0 || !HEX.test(sigHex)) throw new EnvelopeError('bad_signature', 'signature is not lowercase hex', nodeId);
  return { version, mode, nodeId, timestamp: Number(tsText), nonce: Buffer.from(nonceHex, 'hex'), signature: Buffer.from(sigHex, 'hex') };
}

/** Refuses malformed and high-s wallet signatures (65 bytes r ‖ s ‖ recovery id). */
export function checkSignatureShape(signature: Buffer, claimed?: string): void {
  try {
    checkSignatureBytes(signature);
  } catch (err) {
    throw asEnvelopeError(err, claimed);
  }
}

/** Recovers the signer of a wallet-mode signature; refuses malformed and high-s signatures. */
export function recoverSigner(digest: Buffer, signature: Buffer, claimed?: string): { publicKey: string; nodeId: string } {
  try {
    const { publicKey, nodeId } = recoverWalletSigner(digest, signature);
    return { publicKey, nodeId };
  } catch (err) {
    throw asEnvelopeError(err, claimed);
  }
}

function asEnvelopeError(err: unknown, claimed?: string): unknown {
  return err instanceof SignatureError ? new EnvelopeError(err.problem, err.message, claimed) : err;
}

export interface VerifierOptions {
  mode: AuthMode;
  /** Required in hmac mode. */
  secret?: Buffer;
  windowMs: number;
  nonces: NonceCache;
}

/** Checks request envelopes (and, with `expect`, response envelopes). */
export class EnvelopeVerifier {
  /**
   * Public keys of signers already recovered once (nodeId -> key), bounded. Recovery in JS costs ~2 ms; OpenSSL's
   * ECDSA verify against a known key ~0.3 ms. Same acceptance: the key hashes to the nodeId and (r, s) is a valid
   * low-s signature under it. Only the recovery id is not re-checked on this path (it is a hint for recovery, and
   * replays are caught by the nonce, not by the signature bytes).
   */
  private readonly keys = new Map<string, KeyObject>();
  private static readonly MAX_KEYS = 10_000;

  constructor(private readonly opts: VerifierOptions) {
    if (opts.mode === 'hmac' && (!opts.secret || opts.secret.length < 16))
      throw new RangeError('hmac mode needs a cluster secret of at least 16 bytes');
  }

  get mode(): AuthMode {
    return this.opts.mode;
  }

  /**
   * Verifies one envelope for (direction, method, body). Returns the authenticated nodeId. Order: cheap checks
   * first, the nonce is recorded only after the signature verified (so forged requests cannot fill the cache).
   */
  verify(
    direction: Direction,
    method: string,
    env: Envelope,
    body: Uint8Array,
    now: number,
    expect?: { nodeId: string; nonce: Buffer },
  ): { nodeId: string; publicKey?: string } {
    const id = env.nodeId;
    if (env.mode !== this.opts.mode)
      throw new EnvelopeError('wrong_auth_mode', `${env.mode}-signed ${direction} to a ${this.opts.mode}-mode node`, id);
    if (env.timestamp < now - this.opts.windowMs)
      throw new EnvelopeError(
        'stale_timestamp',
        `timestamp is ${Math.round((now - env.timestamp) / 1000)} s old (window +-${this.opts.windowMs / 1000} s)`,
        id,
      );
    if (env.timestamp > now + this.opts.windowMs)
      throw new EnvelopeError(
        'future_timestamp',
        `timestamp is ${Math.round((env.timestamp - now) / 1000)} s in the future (window +-${this.opts.windowMs / 1000} s)`,
        id,
      );
    if (expect) {
      if (id !== expect.nodeId)
        throw new EnvelopeError('unexpected_signer', `the answer is signed as ${id}, expected ${expect.nodeId}`, id);
      if (!env.nonce.equals(expect.nonce)) throw new EnvelopeError('nonce_mismatch', 'the answer does not echo the request nonce', id);
    }
    const preimage = envelopePreimage(direction, method, id, env.timestamp, env.nonce, body);
    const digest = sha256(preimage);
    let publicKey: string | undefined;
    if (this.opts.mode === 'wallet') {
      checkSignatureShape(env.signature, id);
      const known = this.keys.get(id);
      if (!known || !cryptoVerify('sha256', preimage, { key: known, dsaEncoding: 'ieee-p1363' }, env.signature.subarray(0, 64))) {
        // First call from this signer, or a signature the known key rejects: recover, for the precise error.
        const signer = recoverSigner(digest, env.signature, id);
        if (signer.nodeId !== id)
          throw new EnvelopeError(
            'signer_mismatch',
            `the signature was made by ${signer.nodeId}, not by the claimed ${id} (wrong key, or the message was changed after signing)`,
            id,
          );
        publicKey = signer.publicKey;
        this.remember(id, signer.publicKey);
      }
    } else {
      const want = createHmac('sha256', this.opts.secret as Buffer)
        .update(digest)
        .digest();
      if (env.signature.length !== want.length || !timingSafeEqual(env.signature, want))
        throw new EnvelopeError('bad_hmac', 'the cluster HMAC does not match (wrong secret, or the message was changed after signing)', id);
    }
    if (!expect && !this.opts.nonces.add(id, env.nonce.toString('hex'), env.timestamp + this.opts.windowMs, now)) {
      throw new EnvelopeError('replayed_nonce', `nonce ${env.nonce.toString('hex')} was already used (replayed request)`, id);
    }
    return publicKey ? { nodeId: id, publicKey } : { nodeId: id };
  }

  private remember(nodeId: string, compressedPublicKey: string): void {
    const pub = Buffer.from(SigningKey.computePublicKey(compressedPublicKey, false).slice(4), 'hex'); // x ‖ y
    const key = createPublicKey({
      key: { kty: 'EC', crv: 'secp256k1', x: pub.subarray(0, 32).toString('base64url'), y: pub.subarray(32).toString('base64url') },
      format: 'jwk',
    });
    if (this.keys.size >= EnvelopeVerifier.MAX_KEYS) this.keys.delete(this.keys.keys().next().value as string);
    this.keys.set(nodeId, key);
  }
}
