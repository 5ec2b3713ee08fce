import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStateDb } from '../db/database.js';
import type { Certificate, OutcomeProposal } from './messages.js';
import { OutcomeRepository } from './outcome-repo.js';
import { dilocoMigrations } from './round-repo.js';

const h = (c: string) => c.repeat(64);
const proposal = (round: number, parent: string, sha: string, merged = true): OutcomeProposal => ({
  round,
  leader: 'node-00000000000000aa',
  parentSha256: parent,
  merged,
  sha256: sha,
  manifestId: null,
  contributions: [],
  leaderCheck: null,
  note: '',
  basis: null,
  damping: 0,
  signature: Buffer.alloc(65, 7),
});
const cert = (p: OutcomeProposal): Certificate => ({
  proposal: p,
  votes: [{ voter: 'node-00000000000000bb', signature: Buffer.alloc(65, 9) }],
});

test('latest moves only by compare-and-swap: the next round, onto its own parent; an abandon keeps it', () => {
  const repo = new OutcomeRepository(openStateDb(':memory:', dilocoMigrations).db);
  repo.setGenesis({ sha256: h('0'), round: -1, manifestId: null });
  repo.setGenesis({ sha256: h('9'), round: -1, manifestId: null });
  assert.equal(repo.latest()?.sha256, h('0'), 'genesis is set once');
  assert.equal(repo.certify('d1', cert(proposal(0, h('5'), h('1')))), false, 'a parent that is not latest is refused');
  assert.equal(repo.latest()?.sha256, h('0'));
  assert.equal(repo.certify('d1', cert(proposal(0, h('0'), h('1')))), true);
  assert.deepEqual(repo.latest(), { sha256: h('1'), round: 0, manifestId: null });
  assert.equal(repo.certify('d2', cert(proposal(0, h('1'), h('2')))), false, 'the same round again');
  assert.equal(repo.certify('d3', cert(proposal(1, h('1'), h('1'), false))), true, 'round 1 abandoned');
  assert.equal(repo.latest()?.sha256, h('1'), 'an abandon keeps latest');
  assert.equal(repo.lastCertifiedRound(), 1);
  assert.equal(repo.certify('d4', cert(proposal(1, h('1'), h('3')))), false, 'round 1 is over');
  assert.equal(repo.certify('d5', cert(proposal(2, h('1'), h('3')))), true);
  assert.deepEqual(
    repo.certificatesAfter(0, 10).map((c) => c.proposal.round),
    [1, 2],
  );
  assert.equal(repo.certificate(2)?.votes[0]?.signature.equals(Buffer.alloc(65, 9)), true, 'signatures survive the round trip');
});

test('this node votes at most once per (round, leader); its first vote of a round is its lock', () => {
  const repo = new OutcomeRepository(openStateDb(':memory:', dilocoMigrations).db);
  const v = { voter: 'node-00000000000000cc', signature: Buffer.alloc(65, 1) };
  assert.equal(repo.castVote(4, 'node-00000000000000aa', 'dA', h('a'), v), true);
  assert.equal(repo.castVote(4, 'node-00000000000000aa', 'dB', h('b'), v), false, 'second vote for the same leader in the round');
  assert.equal(repo.castVote(4, 'node-00000000000000dd', 'dC', h('a'), v), true, 'a later leader of the round');
  assert.deepEqual(
    repo.myVotes(4).map((x) => x.digest),
    ['dA', 'dC'],
  );
  assert.equal(repo.votes('dA').length, 1);
  assert.equal(repo.failLeader(4, 'node-00000000000000aa', 'no announcement'), true);
  assert.equal(repo.failLeader(4, 'node-00000000000000aa', 'again'), false);
  assert.deepEqual([...repo.failedLeaders(4).keys()], ['node-00000000000000aa']);
  assert.equal(repo.addEquivocation('node-00000000000000aa', 4, 'dA', 'dB'), true);
  assert.equal(repo.equivocated('node-00000000000000aa', 4), true);
  assert.equal(repo.equivocated('node-00000000000000aa', 5), false);
  assert.deepEqual(repo.equivocators(), ['node-00000000000000aa']);
});
