import { createHash } from 'node:crypto';
import type { SigningKey } from 'ethers';
import { type Signer, recoverSigner, signDigest } from '../identity/signature.js';
import { MagnetError, errorMessage } from '../util/errors.js';

/**
 * Certificate binding: the wallet key signs the SHA-256 fingerprint of the node's TLS certificate, so the first
 * contact can check that a certificate belongs to the nodeId it claims (before any pin exists).
 * digest = sha256("magnet-cert-binding/1" ‖ u16be len ‖ nodeId ‖ sha256(cert DER)); signature as in the envelope.
 */
const DOMAIN = Buffer.from('magnet-cert-binding/1', 'utf8');

export interface CertBinding {
  nodeId: string;
  certSha256: Buffer;
  signature: Buffer;
}

export function bindingDigest(nodeId: string, certSha256: Buffer): Buffer {
  const n = Buffer.from(nodeId, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(n.length, 0);
  return createHash('sha256').update(DOMAIN).update(len).update(n).update(certSha256).digest();
}

export function signBinding(key: SigningKey, nodeId: string, certSha256: Buffer): CertBinding {
  return { nodeId, certSha256, signature: signDigest(key, bindingDigest(nodeId, certSha256)) };
}

/**
 * Checks that `binding` is signed by the key of `nodeId` and names the certificate with fingerprint `certSha256`.
 * Returns the signer (its key and wallet address, recovered from the signature); throws MagnetError
 * ERR_CERT_BINDING naming what is wrong.
 */
export function verifyBinding(binding: CertBinding | null | undefined, nodeId: string, certSha256: Buffer): Signer {
  if (!binding || binding.certSha256.length !== 32) {
    throw new MagnetError('ERR_CERT_BINDING', `${nodeId} presented no valid certificate binding`, { nodeId });
  }
  if (binding.nodeId !== nodeId) {
    throw new MagnetError('ERR_CERT_BINDING', `the certificate binding names ${binding.nodeId}, but the peer is ${nodeId}`, { nodeId });
  }
  if (!binding.certSha256.equals(certSha256)) {
    throw new MagnetError(
      'ERR_CERT_BINDING',
      `the certificate binding of ${nodeId} is for certificate ${fingerprintText(binding.certSha256)}, but it presented ${fingerprintText(certSha256)}`,
      { nodeId },
    );
  }
  let signer: Signer;
  try {
    signer = recoverSigner(bindingDigest(nodeId, certSha256), binding.signature);
  } catch (err) {
    throw new MagnetError('ERR_CERT_BINDING', `the certificate binding of ${nodeId} has an invalid signature (${errorMessage(err)})`, {
      nodeId,
    });
  }
  if (signer.nodeId !== nodeId) {
    throw new MagnetError('ERR_CERT_BINDING', `the certificate binding of ${nodeId} is signed by another key (${signer.nodeId})`, {
      nodeId,
      signer: signer.nodeId,
    });
  }
  return signer;
}

/** "sha256:ab12…" (full hex), the form used in errors, logs and the peer book. */
export function fingerprintText(fp: Buffer): string {
  return `sha256:${fp.toString('hex')}`;
}
