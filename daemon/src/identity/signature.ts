import { Signature, SigningKey, computeAddress } from 'ethers';
import { MagnetError } from '../util/errors.js';
import { nodeIdFromPublicKey } from './node-id.js';

/**
 * Wallet signatures over 32-byte digests, as 65 bytes r ‖ s ‖ recovery id (0/1), low s only. The RPC envelope,
 * the certificate binding and the round statements (diloco) all use this form; the signer is recovered, never
 * claimed, so a statement names its author by the key that made it.
 */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = SECP256K1_N >> 1n;

export type SignatureProblem = 'bad_signature' | 'high_s';

export class SignatureError extends MagnetError {
  override readonly name = 'SignatureError';
  constructor(
    readonly problem: SignatureProblem,
    message: string,
  ) {
    super('ERR_SIGNATURE', message, { problem });
  }
}

export function signDigest(key: SigningKey, digest: Buffer): Buffer {
  const sig = key.sign(digest); // RFC 6979, low s (noble)
  return Buffer.concat([Buffer.from(sig.r.slice(2), 'hex'), Buffer.from(sig.s.slice(2), 'hex'), Buffer.from([sig.yParity])]);
}

/** Throws SignatureError for anything but a well-formed low-s 65-byte signature. */
export function checkSignatureBytes(signature: Uint8Array): void {
  if (signature.length !== 65)
    throw new SignatureError('bad_signature', `wallet signature must be 65 bytes (r, s, recovery id), got ${signature.length}`);
  const b = Buffer.from(signature);
  const r = BigInt(`0x${b.subarray(0, 32).toString('hex')}`);
  const s = BigInt(`0x${b.subarray(32, 64).toString('hex')}`);
  const v = b[64] as number;
  if (r === 0n || r >= SECP256K1_N || s === 0n || s >= SECP256K1_N || v > 1)
    throw new SignatureError('bad_signature', 'wallet signature has r, s or recovery id out of range');
  if (s > HALF_N) throw new SignatureError('high_s', 'wallet signature has a high s value (malleated); only low-s signatures are accepted');
}

export interface Signer {
  /** 33-byte compressed public key, 0x-hex. */
  publicKey: string;
  nodeId: string;
  /** EIP-55 wallet address of the same key. */
  address: string;
}

/** Who signed `digest`: refuses malformed and high-s signatures. */
export function recoverSigner(digest: Buffer, signature: Uint8Array): Signer {
  checkSignatureBytes(signature);
  const b = Buffer.from(signature);
  let publicKey: string;
  try {
    const sig = Signature.from({
      r: `0x${b.subarray(0, 32).toString('hex')}`,
      s: `0x${b.subarray(32, 64).toString('hex')}`,
      yParity: b[64] as 0 | 1,
    });
    publicKey = SigningKey.computePublicKey(SigningKey.recoverPublicKey(digest, sig), true);
  } catch {
    throw new SignatureError('bad_signature', 'no public key can be recovered from the wallet signature');
  }
  return { publicKey, nodeId: nodeIdFromPublicKey(publicKey), address: computeAddress(publicKey) };
}
