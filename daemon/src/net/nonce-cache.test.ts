import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnvelopeError } from './envelope-error.js';
import { NonceCache } from './nonce-cache.js';

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EnvelopeError, `expected EnvelopeError, got ${String(err)}`);
    return err.reason;
  }
  assert.fail('expected a refusal');
}

test('one flooding peer fills only its own share: others, and members above all, still get room', () => {
  const members = new Set(['member']);
  const cache = new NonceCache(100, { perPeer: 10, privileged: (p) => members.has(p) });
  for (let i = 0; i < 10; i++) assert.equal(cache.add('flooder', `n${i}`, 1000, 0), true);
  assert.equal(
    reason(() => cache.add('flooder', 'n10', 1000, 1)),
    'peer_nonce_limit',
    'the flooder is at its cap',
  );
  assert.equal(cache.add('honest', 'n0', 1000, 1), true, 'another peer is unaffected');
  // Throwaway keys fill the shared pool (100 entries): then strangers wait, members do not.
  for (let k = 0; cache.pooledSize < 100; k++)
    for (let i = 0; i < 10 && cache.pooledSize < 100; i++) cache.add(`throwaway-${k}`, `n${i}`, 1000, 2);
  assert.equal(
    reason(() => cache.add('stranger', 'n0', 1000, 3)),
    'nonce_cache_full',
  );
  assert.equal(cache.add('member', 'n0', 1000, 3), true, 'members are not counted in the pool');
  assert.equal(cache.add('member', 'n0', 1000, 4), false, 'and replays are still caught for them');
});

test('expired nonces free their room (swept at most once a second), and an expired nonce may be used again', () => {
  const cache = new NonceCache(1000, { perPeer: 3 });
  for (let i = 0; i < 3; i++) cache.add('p', `n${i}`, 100, 0);
  assert.equal(
    reason(() => cache.add('p', 'x', 5000, 50)),
    'peer_nonce_limit',
  );
  assert.equal(cache.add('p', 'x', 5000, 1200), true, 'past the expiry, a sweep makes room');
  assert.equal(cache.size, 1);
  assert.equal(cache.add('p', 'x', 5000, 1300), false, 'a live nonce is a replay');
  assert.equal(cache.add('p', 'x', 9000, 6000), true, 'an expired one is a new request');
  assert.equal(cache.size, 1);
});
