import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Membership } from './membership.js';
import type { RegistryEntry } from './registry-source.js';

const log = pino({ level: 'silent' });
const self = { nodeId: 'node-0000000000000001', address: '0x1111111111111111111111111111111111111111' };
const opts = (members: string[] = []) => ({ members, refreshSeconds: 60 });

test('no list and no chain: this node alone is the network', async () => {
  const m = new Membership(opts(), { self, log });
  await m.start();
  assert.equal(m.source, 'self');
  assert.equal(m.size(), 1);
  assert.equal(m.isMember(self.nodeId), true);
  assert.equal(m.isMember('node-00000000000000ff'), false, 'a stranger is not a member');
  await m.stop();
});

test('an operator list names members by nodeId or wallet address (any case); size counts entries', () => {
  const addr = '0xAbCdEf0123456789abcdef0123456789ABCDEF01';
  const m = new Membership(opts([self.nodeId, addr]), { self, log });
  assert.equal(m.source, 'list');
  assert.equal(m.size(), 2);
  assert.equal(m.isMember(self.nodeId), true);
  assert.equal(m.isMember('node-00000000000000aa', addr.toLowerCase()), true, 'listed by address: its verified wallet decides');
  assert.equal(m.isMember('node-00000000000000aa'), false, 'without a verified address, an address entry does not match');
  assert.equal(m.isMember('node-00000000000000bb', '0x2222222222222222222222222222222222222222'), false);
  assert.equal(m.selfIsMember(), true);
  const outsider = new Membership(opts(['node-00000000000000aa']), { self, log });
  assert.equal(outsider.selfIsMember(), false, 'a node not on its own list only follows');
});

test("with a chain: members are the active registered nodes, the tier is the registry's, a failed read keeps the last set", async () => {
  let entries: RegistryEntry[] = [
    { address: self.address, nodeId: self.nodeId, tier: 1, active: true },
    { address: '0x3333333333333333333333333333333333333333', nodeId: 'node-0000000000000003', tier: 3, active: true },
    { address: '0x4444444444444444444444444444444444444444', nodeId: 'node-0000000000000004', tier: 0, active: false },
  ];
  let fail = false;
  const registry = { list: async () => (fail ? Promise.reject(new Error('rpc down')) : entries) };
  const m = new Membership(opts(['node-00000000000000aa']), { self, registry, log });
  await m.start();
  assert.equal(m.source, 'chain');
  assert.equal(m.size(), 2, 'the unbonding node is not counted');
  assert.equal(m.isMember('node-0000000000000003'), true);
  assert.equal(m.isMember('node-0000000000000004'), false, 'registered but not active');
  assert.equal(m.isMember('node-00000000000000aa'), false, 'the operator list is ignored with a chain');
  assert.equal(m.tierOf('node-0000000000000003'), 'cpu_only');
  fail = true;
  await m.refresh();
  assert.equal(m.size(), 2, 'kept');
  assert.match(String(m.status()['lastError']), /rpc down/);
  fail = false;
  entries = entries.slice(0, 1);
  await m.refresh();
  assert.equal(m.size(), 1);
  await m.stop();
});
