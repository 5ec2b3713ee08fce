import { createHash } from 'node:crypto';
import { SigningKey } from 'ethers';

/** nodeId = "node-" + hex(sha256(compressed secp256k1 public key))[0:16]. */
export function nodeIdFromPublicKey(publicKey: string): string {
  const compressed = SigningKey.computePublicKey(publicKey, true);
  const digest = createHash('sha256')
    .update(Buffer.from(compressed.slice(2), 'hex'))
    .digest('hex');
  return `node-${digest.slice(0, 16)}`;
}

export const NODE_ID_PATTERN = /^node-[0-9a-f]{16}$/;
