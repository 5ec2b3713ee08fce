import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Logger } from '../log/logger.js';
import type { MemberView } from '../membership/membership.js';
import type { PeerClient } from './client.js';
import type { NetMetrics } from './metrics.js';
import type { PeerBook } from './peer-book.js';
import { PeerTable } from './peer-table.js';

/** A table of `members` member peers and `others` non-members, all live; nothing but the table is real. */
function table(
  members: number,
  others: number,
  booked: (nodeId: string) => void = () => undefined,
): { t: PeerTable; memberIds: Set<string> } {
  const memberIds = new Set(Array.from({ length: members }, (_, i) => `node-m${String(i).padStart(15, '0')}`));
  const t = new PeerTable({
    self: { nodeId: 'node-self000000000000', address: '' },
    members: { isMember: (id: string) => memberIds.has(id), tierOf: () => undefined } as unknown as MemberView,
    book: {
      upsert: () => undefined,
      get: () => undefined,
      heartbeat: (nodeId: string) => booked(nodeId),
      prune: () => undefined,
    } as unknown as PeerBook,
    limits: () => ({ maxPeers: 1000, maxPeersPerIpRange: 1000, staleSeconds: 60 }),
    log: { info: () => undefined, warn: () => undefined, debug: () => undefined } as unknown as Logger,
    metrics: { peers: { set: () => undefined } } as unknown as NetMetrics,
    pinned: () => true,
    newClient: () => ({ close: () => undefined }) as unknown as PeerClient,
    emit: () => undefined,
  });
  const ids = [...memberIds, ...Array.from({ length: others }, (_, i) => `node-o${String(i).padStart(15, '0')}`)];
  for (const nodeId of ids) {
    const info = {
      nodeId,
      address: '',
      peerId: '',
      multiaddrs: [],
      grpcAddress: `127.0.0.1:${ids.indexOf(nodeId) + 1}`,
      tier: 't',
      roles: [],
      version: '',
      networkId: '',
    };
    t.record({ info, certPem: '', certSha256: Buffer.alloc(32) }, true, '127.0.0.0/24');
  }
  return { t, memberIds };
}

test('peer exchange hands out every live peer over a few asks when there are more than one answer holds, members first', () => {
  const { t, memberIds } = table(40, 9);
  const seen = new Set<string>();
  for (let ask = 0; ask < 20; ask++) {
    const answer = t.livePeers(32, 'node-asker0000000000').map((p) => p.nodeId);
    assert.equal(answer.length, 32);
    assert.equal(new Set(answer).size, 32, 'no peer twice in one answer');
    assert.ok(
      answer.every((id) => memberIds.has(id)),
      'with 40 members live, a 32-peer answer holds members only',
    );
    for (const id of answer) seen.add(id);
  }
  // A fixed order gave every asker the same 32: the last 8 members to arrive were never passed on.
  assert.equal(seen.size, 40, `every member passed on within 20 asks (saw ${seen.size})`);

  const small = table(3, 5)
    .t.livePeers(32, 'node-m000000000000000')
    .map((p) => p.nodeId);
  assert.equal(small.length, 7, 'the asker itself is left out, everyone else is in');
  assert.deepEqual(
    small.slice(0, 2).every((id) => id.startsWith('node-m')) && small.slice(2).every((id) => id.startsWith('node-o')),
    true,
    `members before the others: ${small.join(', ')}`,
  );
});

test("a live peer's heartbeats reach the peer book once a minute, and at once when its roles change or it comes back", () => {
  const writes: string[] = [];
  const { t } = table(1, 0, (id) => writes.push(id));
  const l = t.get('node-m000000000000000')!;
  assert.equal(writes.length, 1, 'the first heartbeat is written');
  t.alive(l);
  t.alive(l);
  assert.equal(writes.length, 1, 'heartbeats within the minute are not');
  l.info = { ...l.info, roles: ['storage'] };
  t.alive(l);
  assert.equal(writes.length, 2, 'a change of roles is written at once');
  l.bookedAt -= 61_000;
  t.alive(l);
  assert.equal(writes.length, 3, 'a minute later the next heartbeat is written');
  t.down(l, 'test');
  t.alive(l);
  assert.equal(writes.length, 4, 'coming back is written at once');
});
