import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Seat, admit, ipRange } from './admission.js';

const limits = { maxStrangers: 4, maxPerRange: 2, idleMs: 60_000 };
const now = 1_000_000;
const seat = (nodeId: string, range: string, over: Partial<Seat> = {}): Seat => ({
  nodeId,
  member: false,
  range,
  lastSeen: now,
  live: true,
  ...over,
});

test('members always get a seat, however full the table', () => {
  const full = Array.from({ length: 10 }, (_, i) => seat(`s${i}`, '10.0.0.0/24'));
  assert.deepEqual(admit({ member: true, range: '10.0.0.0/24' }, full, limits, now), { ok: true });
});

test('non-members: at most maxPerRange from one range; the idlest idle one makes room, else the newcomer is refused', () => {
  const two = [seat('a', '10.0.0.0/24'), seat('b', '10.0.0.0/24')];
  const r = admit({ member: false, range: '10.0.0.0/24' }, two, limits, now);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'ip_range_full');
  assert.deepEqual(admit({ member: false, range: '10.0.1.0/24' }, two, limits, now), { ok: true }, 'another range is fine');
  const idle = [seat('a', '10.0.0.0/24', { lastSeen: now - 120_000 }), seat('b', '10.0.0.0/24', { lastSeen: now - 90_000, live: false })];
  assert.deepEqual(admit({ member: false, range: '10.0.0.0/24' }, idle, limits, now), { ok: true, evict: 'a' });
});

test('non-members: the pool is bounded; members in the table do not count against it', () => {
  const pool = [seat('a', 'r1'), seat('b', 'r2'), seat('c', 'r3'), seat('d', 'r4'), seat('m', 'r5', { member: true })];
  const r = admit({ member: false, range: 'r6' }, pool, limits, now);
  assert.equal(!r.ok && r.reason, 'peer_table_full');
  pool[2] = seat('c', 'r3', { live: false, lastSeen: now - 1 });
  assert.deepEqual(admit({ member: false, range: 'r6' }, pool, limits, now), { ok: true, evict: 'c' }, 'a stale one makes room');
});

test('ipRange: /24 for IPv4, /48 for IPv6, from gRPC peer strings or bare addresses', () => {
  assert.equal(ipRange('ipv4:127.0.0.1:51234'), '127.0.0.0/24');
  assert.equal(ipRange('192.168.7.42'), '192.168.7.0/24');
  assert.equal(ipRange('ipv6:[::1]:7600'), '0:0:0::/48');
  assert.equal(ipRange('ipv6:[2001:db8:abcd:12::1]:7600'), '2001:db8:abcd::/48');
  assert.equal(ipRange('ipv6:[::ffff:10.1.2.3]:7600'), '10.1.2.0/24');
  assert.match(ipRange('unix:/tmp/sock'), /^other:/);
});
