import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallLimiter } from './call-limits.js';
import { Refusal } from './refusal.js';

const opts = { controlRatePerSecond: 20, controlBurst: 60, ipRatePerSecond: 200, ipBurst: 400 };

function outcome(l: CallLimiter, remote: string, id: string, now: number): string {
  try {
    l.check(remote, id, now);
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof Refusal);
    return err.reason;
  }
}

test('1000 calls in a second from one key: about a burst and a second of refill pass, the rest are rate_limited', () => {
  const l = new CallLimiter(opts);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) {
    const r = outcome(l, 'ipv4:127.0.0.1:4000', 'node-aaaaaaaaaaaaaaaa', i);
    counts[r] = (counts[r] ?? 0) + 1;
  }
  assert.ok((counts['ok'] ?? 0) <= 60 + 20 + 1, JSON.stringify(counts));
  assert.ok((counts['rate_limited'] ?? 0) >= 900, JSON.stringify(counts));
  // The same address, another key: its own bucket, and the flood was not charged to the address.
  for (let i = 0; i < 60; i++) assert.equal(outcome(l, 'ipv4:127.0.0.1:4001', 'node-bbbbbbbbbbbbbbbb', 1000), 'ok');
});

test('a claimed nodeId cannot be drained from another address (the bucket is per range and nodeId)', () => {
  const l = new CallLimiter(opts);
  for (let i = 0; i < 200; i++) outcome(l, 'ipv4:10.9.9.9:1', 'node-aaaaaaaaaaaaaaaa', 0);
  assert.equal(outcome(l, 'ipv4:10.9.9.9:1', 'node-aaaaaaaaaaaaaaaa', 0), 'rate_limited');
  assert.equal(outcome(l, 'ipv4:192.168.1.5:1', 'node-aaaaaaaaaaaaaaaa', 0), 'ok');
});

test('throwaway keys from one range share its budget: ip_rate_limited', () => {
  const l = new CallLimiter(opts);
  let limited = 0;
  for (let i = 0; i < 1000; i++)
    if (outcome(l, `ipv4:10.1.1.${i % 250}:1`, `node-${i.toString(16).padStart(16, '0')}`, 0) === 'ip_rate_limited') limited++;
  assert.equal(limited, 600, 'the burst of 400 passes, the rest is refused');
  assert.equal(outcome(l, 'ipv4:10.1.2.1:1', 'node-0000000000000001', 0), 'ok', 'another /24 is not affected');
});
