import { SigningKey, Wallet } from 'ethers';
import { nodeIdFromPublicKey } from './node-id.js';

/** Who this node is: one secp256k1 key names the wallet, the nodeId, the libp2p peer and the TLS binding. */
export interface NodeIdentity {
  nodeId: string;
  /** EIP-55 wallet address. */
  address: string;
  /** 33-byte compressed public key, 0x-hex. */
  publicKey: string;
  signingKey: SigningKey;
  wallet: Wallet;
}

export function identityFromWallet(wallet: Wallet): NodeIdentity {
  const publicKey = wallet.signingKey.compressedPublicKey;
  return { nodeId: nodeIdFromPublicKey(publicKey), address: wallet.address, publicKey, signingKey: wallet.signingKey, wallet };
}
