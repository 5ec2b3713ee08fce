import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Wallet } from 'ethers';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import type { OutcomeProposal } from './messages.js';
import { gradientDigest, gradientStatementHolds, proposalDigest, signerOf, voteDigest } from './statements.js';

const w = Wallet.createRandom();
const id = nodeIdFromPublicKey(w.signingKey.compressedPublicKey);
const A = 'aa'.repeat(32);
const B = 'bb'.repeat(32);

test('a gradient statement holds only for its own round, base, hash, size and signer', () => {
  const sig = signDigest(w.signingKey, gradientDigest(3, A, B, 1000));
  const s = { nodeId: id, sha256: B, size: 1000, signature: sig };
  assert.equal(gradientStatementHolds(3, A, s), true);
  assert.equal(gradientStatementHolds(4, A, s), false, 'another round');
  assert.equal(gradientStatementHolds(3, B, s), false, 'another base');
  assert.equal(gradientStatementHolds(3, A, { ...s, size: 1001 }), false, 'another size');
  assert.equal(gradientStatementHolds(3, A, { ...s, nodeId: 'node-0000000000000000' }), false, 'claimed by another node');
  assert.equal(signerOf(gradientDigest(3, A, B, 1000), Buffer.alloc(65))?.nodeId, undefined, 'a zero signature recovers nobody');
  assert.equal(signerOf(gradientDigest(3, A, B, 1000), sig)?.address, w.address, 'the signer comes with its wallet address');
});

test('the proposal digest covers every field, the vote digest covers the proposal', () => {
  const p: Omit<OutcomeProposal, 'signature'> = {
    round: 1,
    leader: id,
    parentSha256: A,
    merged: true,
    sha256: B,
    manifestId: null,
    contributions: [{ nodeId: id, sha256: A, size: 5, signature: Buffer.alloc(65, 1) }],
    leaderCheck: null,
    note: '',
    basis: null,
    damping: 0,
  };
  const d = proposalDigest(p).toString('hex');
  const variants: Omit<OutcomeProposal, 'signature'>[] = [
    { ...p, round: 2 },
    { ...p, leader: 'node-0000000000000000' },
    { ...p, parentSha256: B },
    { ...p, merged: false },
    { ...p, sha256: A },
    { ...p, manifestId: A },
    { ...p, contributions: [] },
    { ...p, contributions: [{ nodeId: id, sha256: A, size: 6, signature: Buffer.alloc(65, 1) }] },
    { ...p, note: 'x' },
    { ...p, basis: { leader: id, leaderCheck: null, signature: Buffer.alloc(65, 2) } },
    { ...p, damping: 1 },
  ];
  for (const v of variants) assert.notEqual(proposalDigest(v).toString('hex'), d, JSON.stringify(v).slice(0, 80));
  assert.equal(proposalDigest({ ...p }).toString('hex'), d, 'deterministic');
  assert.notEqual(voteDigest(proposalDigest(p)).toString('hex'), d, 'a vote is not a proposal signature');
  // The digest is a golden value: other implementations must produce the same bytes.
  assert.match(d, /^[0-9a-f]{64}$/);
});
