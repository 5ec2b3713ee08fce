import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Wallet } from 'ethers';
import { openStateDb } from '../db/database.js';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import type { RoundContext } from './context.js';
import type { GradientCheck, OutcomeProposal, Vote } from './messages.js';
import { OutcomeRepository } from './outcome-repo.js';
import { dilocoMigrations } from './round-repo.js';
import { Promotion, checkProposal } from './promotion.js';
import { RoundView } from './round-view.js';
import { checkDigest, gradientDigest, proposalDigest, voteDigest } from './statements.js';

/** Four members (quorum 3 of 4 at 2/3) and one outsider, with real wallet keys. */
const keys = Array.from({ length: 5 }, () => {
  const w = Wallet.createRandom();
  return { key: w.signingKey, id: nodeIdFromPublicKey(w.signingKey.compressedPublicKey) };
});
const [A, B, C, D, E] = keys as [(typeof keys)[0], (typeof keys)[0], (typeof keys)[0], (typeof keys)[0], (typeof keys)[0]];
const members = new Set([A, B, C, D].map((k) => k.id));
const outcomes = new OutcomeRepository(openStateDb(':memory:', dilocoMigrations).db);
const view = new RoundView({
  self: { nodeId: D.id, address: '0x0', roles: ['trainer'] },
  network: { livePeers: () => [], isStale: () => false } as unknown as RoundContext['network'],
  members: { isMember: (id) => members.has(id), size: () => members.size },
  outcomes,
  voteQuorum: 2 / 3,
});
const ctx = { view } as RoundContext;
const promotion = new Promotion(ctx);

const PARENT = '11'.repeat(32);
const MERGED = '22'.repeat(32);
const gsha = (k: typeof A) => k.id.slice(5).repeat(4);
const statement = (k: typeof A, round = 7) => ({
  nodeId: k.id,
  sha256: gsha(k),
  size: 100,
  signature: signDigest(k.key, gradientDigest(round, PARENT, gsha(k), 100)),
});
const sign = (by: typeof A, p: Omit<OutcomeProposal, 'signature'>): OutcomeProposal => ({
  ...p,
  signature: signDigest(by.key, proposalDigest(p)),
});
const sorted = (...ks: (typeof A)[]) => [...ks].sort((x, y) => x.id.localeCompare(y.id));
const proposal = (over: Partial<OutcomeProposal> = {}, by = A): OutcomeProposal =>
  sign(by, {
    round: 7,
    leader: by.id,
    parentSha256: PARENT,
    merged: true,
    sha256: MERGED,
    manifestId: null,
    contributions: sorted(B, C).map((k) => statement(k)),
    leaderCheck: null,
    note: '',
    basis: null,
    damping: 0,
    ...over,
  });
const vote = (p: OutcomeProposal, by: typeof A, as = by.id): Vote => ({
  voter: as,
  signature: signDigest(by.key, voteDigest(proposalDigest(p))),
});
const check = (subject: typeof A, by: typeof A, accepted = true): GradientCheck => {
  const c = {
    round: 7,
    baseSha256: PARENT,
    sha256: gsha(subject),
    subject: subject.id,
    checker: by.id,
    accepted,
    reason: accepted ? 'ok' : 'spot_check: worse',
  };
  return { ...c, signature: signDigest(by.key, checkDigest(c)) };
};

test('a certificate needs votes from a quorum of distinct members, each signed by its voter', () => {
  const p = proposal();
  assert.equal(view.quorum(), 3);
  assert.equal(promotion.verify({ proposal: p, votes: [vote(p, A), vote(p, B), vote(p, C)] }).ok, true);
  const bad = (votes: Vote[]) => {
    const v = promotion.verify({ proposal: p, votes });
    return v.ok ? 'ok' : v.reason;
  };
  assert.equal(bad([vote(p, A), vote(p, B), vote(p, E)]), 'no_quorum', "an outsider's vote does not count");
  assert.equal(bad([vote(p, A), vote(p, A), vote(p, B)]), 'no_quorum', 'one member, one vote');
  assert.equal(bad([vote(p, A), vote(p, B), vote(p, B, C.id)]), 'no_quorum', 'a vote signed by B in the name of C');
  const other = proposal({ sha256: '33'.repeat(32) });
  assert.equal(bad([vote(other, A), vote(other, B), vote(other, C)]), 'no_quorum', 'votes for another proposal');
});

test('a proposal: signed by a member leader, contributions in order from members, statements for this round and parent', () => {
  const reason = (p: OutcomeProposal) => checkProposal(ctx, p)?.reason ?? 'ok';
  assert.equal(reason(proposal()), 'ok');
  assert.equal(reason(proposal({}, E)), 'not_member');
  assert.equal(reason({ ...proposal(), sha256: '44'.repeat(32) }), 'bad_signature', 'changed after signing');
  assert.equal(
    reason(
      proposal({
        contributions: sorted(B, C)
          .reverse()
          .map((k) => statement(k)),
      }),
    ),
    'bad_contribution',
    'out of order',
  );
  assert.equal(reason(proposal({ contributions: sorted(B, E).map((k) => statement(k)) })), 'bad_contribution', "an outsider's gradient");
  assert.equal(reason(proposal({ contributions: [statement(B, 6)] })), 'bad_contribution', 'a statement of another round');
  assert.equal(reason(proposal({ contributions: [] })), 'bad_contribution', 'a merge of nothing');
  assert.equal(reason(proposal({ merged: false, sha256: PARENT, contributions: [] })), 'ok', 'an abandon');
  assert.equal(reason(proposal({ merged: false, sha256: PARENT })), 'bad_contribution', 'an abandon lists nothing');
});

test("the leader's own gradient needs another member's signed, accepting check; a repeated proposal carries the original's", () => {
  const reason = (p: OutcomeProposal) => checkProposal(ctx, p)?.reason ?? 'ok';
  const withA = sorted(A, B).map((k) => statement(k));
  assert.equal(reason(proposal({ contributions: withA })), 'unchecked_leader_gradient');
  assert.equal(reason(proposal({ contributions: withA, leaderCheck: check(A, B) })), 'ok');
  assert.equal(reason(proposal({ contributions: withA, leaderCheck: check(A, A) })), 'unchecked_leader_gradient', 'by itself');
  assert.equal(reason(proposal({ contributions: withA, leaderCheck: check(A, E) })), 'unchecked_leader_gradient', 'by an outsider');
  assert.equal(reason(proposal({ contributions: withA, leaderCheck: check(A, B, false) })), 'unchecked_leader_gradient', 'refused');
  // B takes the round over and proposes A's outcome again: A's signature and check come along
  const original = proposal({ contributions: withA, leaderCheck: check(A, B) });
  const basis = { leader: A.id, leaderCheck: original.leaderCheck, signature: original.signature };
  assert.equal(reason(proposal({ contributions: withA, basis }, B)), 'ok');
  assert.equal(
    reason(proposal({ contributions: withA, basis: { ...basis, signature: signDigest(B.key, proposalDigest(original)) } }, B)),
    'bad_signature',
  );
  assert.equal(
    reason(proposal({ contributions: sorted(A, C).map((k) => statement(k)), basis }, B)),
    'bad_signature',
    'not what A proposed',
  );
});
