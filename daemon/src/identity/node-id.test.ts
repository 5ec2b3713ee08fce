import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Wallet } from 'ethers';
import { NODE_ID_PATTERN, nodeIdFromPublicKey } from './node-id.js';

// Vectors computed independently (Python hashlib over the compressed SEC1 key of private keys 1 and 2).
const VECTORS = [
  { privateKey: '0x0000000000000000000000000000000000000000000000000000000000000001', nodeId: 'node-0f715baf5d4c2ed3' },
  { privateKey: '0x0000000000000000000000000000000000000000000000000000000000000002', nodeId: 'node-b1c9938f01121e15' },
];

test('nodeId = "node-" + sha256(compressed public key)[0:16] for fixed keys', () => {
  for (const v of VECTORS) {
    const w = new Wallet(v.privateKey);
    assert.equal(nodeIdFromPublicKey(w.signingKey.compressedPublicKey), v.nodeId);
    // the uncompressed form names the same node
    assert.equal(nodeIdFromPublicKey(w.signingKey.publicKey), v.nodeId);
  }
});

test('random keys give ids of the documented shape', () => {
  const id = nodeIdFromPublicKey(Wallet.createRandom().signingKey.publicKey);
  assert.match(id, NODE_ID_PATTERN);
});
