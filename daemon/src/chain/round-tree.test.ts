import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Wallet, hexlify, keccak256, randomBytes } from 'ethers';
import { buildRoundTree, rootFromProof, roundLeafHash, type RoundLeaf } from './round-tree.js';

const randomLeaf = (): string => keccak256(randomBytes(32));

test('every leaf of trees of 1 to 33 leaves proves to the root, whatever order the leaves came in', () => {
  for (let n = 1; n <= 33; n++) {
    const leaves = Array.from({ length: n }, randomLeaf);
    const tree = buildRoundTree(leaves);
    assert.equal(buildRoundTree([...leaves].reverse()).root, tree.root, `n=${n}: order-free`);
    for (const leaf of leaves) {
      const proof = tree.proof(leaf);
      assert.ok(proof.length <= Math.ceil(Math.log2(n)), `n=${n}: proof of at most log2(n) hashes`);
      assert.equal(rootFromProof(leaf, proof), tree.root, `n=${n}`);
    }
  }
});

test('a leaf that is not in the tree, or a proof bent by one hash, does not reach the root', () => {
  const leaves = Array.from({ length: 7 }, randomLeaf);
  const tree = buildRoundTree(leaves);
  assert.throws(() => tree.proof(randomLeaf()), /is not a leaf/);
  const proof = tree.proof(leaves[3]!);
  assert.notEqual(rootFromProof(randomLeaf(), proof), tree.root);
  const bent = [...proof];
  bent[1] = randomLeaf();
  assert.notEqual(rootFromProof(leaves[3]!, bent), tree.root);
});

test('refuses an empty tree and a duplicate leaf', () => {
  assert.throws(() => buildRoundTree([]), /at least one leaf/);
  const l = randomLeaf();
  assert.throws(() => buildRoundTree([l, randomLeaf(), l.toUpperCase().replace('0X', '0x')]), /duplicate round leaf/);
});

test('a leaf binds every field, the chain and the ledger', () => {
  const base: RoundLeaf = {
    leader: Wallet.createRandom().address,
    epoch: 7n,
    round: 3n,
    index: 2,
    node: Wallet.createRandom().address,
    tokens: 1000n,
    score: 500_000n,
    gradientHash: hexlify(randomBytes(32)),
  };
  const ledger = Wallet.createRandom().address;
  const h = roundLeafHash(base, 31337n, ledger);
  const changed: Partial<RoundLeaf>[] = [
    { leader: Wallet.createRandom().address },
    { epoch: 8n },
    { round: 4n },
    { index: 3 },
    { node: Wallet.createRandom().address },
    { tokens: 1001n },
    { score: 500_001n },
    { gradientHash: hexlify(randomBytes(32)) },
  ];
  for (const c of changed) assert.notEqual(roundLeafHash({ ...base, ...c }, 31337n, ledger), h, JSON.stringify(Object.keys(c)));
  assert.notEqual(roundLeafHash(base, 1n, ledger), h, 'another chain');
  assert.notEqual(roundLeafHash(base, 31337n, Wallet.createRandom().address), h, 'another ledger');
});
