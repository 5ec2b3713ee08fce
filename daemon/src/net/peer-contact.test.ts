import assert from 'node:assert/strict';
import { test } from 'node:test';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { SigningKey, getBytes } from 'ethers';
import type { Libp2p } from 'libp2p';
import type { Logger } from '../log/logger.js';
import type { PeerClient } from './client.js';
import { nodeIdOfPeer } from './host.js';
import type { NetMetrics } from './metrics.js';
import type { NetOptions } from './options.js';
import { PeerContact } from './peer-contact.js';
import type { Live } from './peer-table.js';
import type { Peers } from './peers.js';

/**
 * Live peers whose clients count heartbeats and peer exchanges; no network. `net.members` are the network's other
 * members, `net.book` the multiaddrs of the peers this node knew before.
 */
function fixture(n: number, self = 'node-ffffffffffffffff', host?: unknown, net = { members: [] as string[], book: [] as string[][] }) {
  const calls = { heartbeat: [] as string[], getPeers: [] as string[] };
  const live: Live[] = Array.from({ length: n }, (_, i) => {
    const nodeId = `node-${String(i).padStart(16, '0')}`;
    const info = { nodeId, address: '', peerId: '', multiaddrs: [], grpcAddress: '', tier: 't', roles: [], version: '', networkId: '' };
    const client = {
      heartbeat: async () => {
        calls.heartbeat.push(info.nodeId);
        return { seq: 0, timeMs: Date.now() };
      },
      getPeers: async () => {
        calls.getPeers.push(info.nodeId);
        return { peers: [] };
      },
    } as unknown as PeerClient;
    return {
      info,
      certPem: '',
      certSha256: Buffer.alloc(32),
      client,
      state: 'live',
      lastHeartbeat: Date.now(),
      failures: 0,
      nextTry: 0,
      lastExchange: 0,
      lastSent: 0,
      lastBeatIn: 0,
      range: '127.0.0.0/24',
      bookedAt: 0,
      bookedAs: '',
    };
  });
  const table = {
    all: () => live,
    get: (id: string) => live.find((l) => l.info.nodeId === id),
    sweep: () => undefined,
    alive: () => undefined,
  };
  const book = { all: () => net.book.map((multiaddrs, i) => ({ nodeId: `node-book${String(i).padStart(12, '0')}`, multiaddrs })) };
  const peers = {
    table,
    book,
    isMember: (id: string) => net.members.includes(id),
    hasOtherMembers: () => net.members.length > 0,
  } as unknown as Peers;
  const contact = new PeerContact({
    config: { heartbeatSeconds: 15, bootstrap: ['/ip4/127.0.0.1/tcp/9/p2p/16Uiu2HAmBootstrap'] } as NetOptions,
    peers,
    self: { nodeId: self, tier: 't', roles: [] },
    log: { debug: () => undefined, warn: () => undefined } as unknown as Logger,
    metrics: { heartbeats: { inc: () => undefined } } as unknown as NetMetrics,
    host: () => host as Libp2p | undefined,
    running: () => true,
    selfHello: () => {
      throw new Error('not used');
    },
    checkHello: () => {
      throw new Error('not used');
    },
  });
  return { calls, contact, live };
}

/** A libp2p host connected to one peer (its key from `byte`), recording dials and greetings (a greeting fails). */
function connectedHost(byte: string) {
  const peerId = peerIdFromPrivateKey(privateKeyFromRaw(getBytes(new SigningKey('0x' + byte.repeat(32)).privateKey)));
  const dialled: string[] = [];
  const greeted: string[] = [];
  const host = {
    getConnections: () => [{ remotePeer: peerId, remoteAddr: { toString: () => '/ip4/127.0.0.1/tcp/1' } }],
    dial: async (ma: { toString(): string }) => void dialled.push(ma.toString()),
    dialProtocol: async (p: typeof peerId) => {
      greeted.push(nodeIdOfPeer(p)!);
      throw new Error('no stream in this test');
    },
  };
  return { peerId, dialled, greeted, host };
}

const settle = () => new Promise((r) => setImmediate(r));

test('peer exchange: a small network asks every live peer while it forms, then one peer per heartbeat period, each in turn', async () => {
  const { calls, contact } = fixture(4);
  const t0 = Date.now();
  contact.tick(t0);
  await settle();
  assert.equal(calls.heartbeat.length, 4, 'every peer gets its heartbeat');
  assert.equal(calls.getPeers.length, 4, 'in the first minute every live peer is asked');

  calls.heartbeat.length = 0;
  calls.getPeers.length = 0;
  const later = t0 + 61_000;
  contact.tick(later);
  await settle();
  assert.equal(calls.heartbeat.length, 4, 'heartbeats keep their cadence');
  assert.equal(calls.getPeers.length, 1, 'after the first minute one peer per heartbeat period');
  for (let s = 1; s < 15; s++) contact.tick(later + s * 1000);
  await settle();
  assert.equal(calls.getPeers.length, 1, 'no other exchange within the period');

  const asked = new Set(calls.getPeers);
  for (let p = 1; p < 4; p++) {
    contact.tick(later + p * 15_000);
    await settle();
  }
  for (const id of calls.getPeers) asked.add(id);
  assert.equal(calls.getPeers.length, 4, 'one exchange per period');
  assert.equal(asked.size, 4, 'each live peer in turn, the one asked longest ago first');
});

test('while the network forms, a node asks a few peers every 2 s, each in turn, not all of them (N nodes would make N^2 calls)', async () => {
  const { calls, contact } = fixture(10);
  const t0 = Date.now();
  contact.tick(t0);
  await settle();
  assert.equal(calls.getPeers.length, 4, 'four peers asked');
  contact.tick(t0 + 1000);
  await settle();
  assert.equal(calls.getPeers.length, 4, 'none again within 2 s');
  contact.tick(t0 + 2000);
  await settle();
  contact.tick(t0 + 4000);
  await settle();
  assert.equal(calls.getPeers.length, 12);
  assert.equal(new Set(calls.getPeers).size, 10, 'every peer asked within three rounds, those asked longest ago first');
});

test('peer exchange skips stale peers and peers still backing off', async () => {
  const { calls, contact, live } = fixture(3);
  const later = Date.now() + 61_000;
  live[0]!.state = 'stale';
  live[0]!.nextTry = later + 60_000; // not greeted now either
  live[1]!.nextTry = later + 60_000;
  contact.tick(later);
  await settle();
  assert.deepEqual(calls.getPeers, [live[2]!.info.nodeId]);
});

test('heartbeats: of two peers the higher nodeId skips its own while the other keeps beating, yet sends every fourth period', async () => {
  // Self sits between peer 0 (lower nodeId: it follows) and peer 1 (higher: it leads).
  const { calls, contact, live } = fixture(2, 'node-0000000000000005');
  live[1]!.info.nodeId = 'node-9999999999999999';
  const [low, high] = [live[0]!, live[1]!];
  const t0 = Date.now();
  contact.tick(t0);
  await settle();
  assert.deepEqual(calls.heartbeat.sort(), [low.info.nodeId, high.info.nodeId], 'the first heartbeat goes both ways');

  // From now on both peers' heartbeats arrive every period; the clock is virtual (tick's `now`), so each beat sent is
  // dated to the period it went in.
  const sent: Record<string, number> = { [low.info.nodeId]: 0, [high.info.nodeId]: 0 };
  for (const l of live) l.lastSent = t0;
  for (let p = 1; p <= 8; p++) {
    const now = t0 + p * 15_000;
    low.lastBeatIn = now - 1000;
    high.lastBeatIn = now - 1000;
    calls.heartbeat.length = 0;
    contact.tick(now);
    await settle();
    for (const id of calls.heartbeat) {
      sent[id] = (sent[id] ?? 0) + 1;
      live.find((l) => l.info.nodeId === id)!.lastSent = now;
    }
  }
  assert.equal(sent[high.info.nodeId], 8, 'to a peer with a higher nodeId: every period');
  assert.equal(sent[low.info.nodeId], 2, 'to a lower one that keeps beating: every fourth period');

  // Its heartbeats stop: ours resume at the next period.
  calls.heartbeat.length = 0;
  const later = t0 + 9 * 15_000;
  low.lastSent = later - 15_000;
  low.lastBeatIn = later - 30_000;
  contact.tick(later);
  await settle();
  assert.ok(calls.heartbeat.includes(low.info.nodeId));
});

test('a listed peer already connected over libp2p but unknown here is greeted, not dialled again (a dial opens nothing new)', async () => {
  const { peerId, dialled, greeted, host } = connectedHost('11');
  const connectedId = nodeIdOfPeer(peerId)!;
  const { contact, live } = fixture(1, 'node-ffffffffffffffff', host);
  const listed = (nodeId: string, port: number) => ({
    ...live[0]!.info,
    nodeId,
    multiaddrs: [`/ip4/127.0.0.1/tcp/${port}/p2p/${peerId.toString()}`],
  });
  live[0]!.client.getPeers = async () => ({ peers: [listed(connectedId, 1), listed('node-00000000000000ff', 2)] });
  contact.tick(Date.now());
  await settle();
  await settle();
  assert.deepEqual(greeted, [connectedId], 'the connected peer is greeted over libp2p');
  assert.deepEqual(dialled, ['/ip4/127.0.0.1/tcp/2/p2p/' + peerId.toString()], 'only the unconnected one is dialled');
});

test('a node with no live peer greets its connections and dials its bootstrap list again every 15 s, and stops once it has one', async () => {
  const { peerId, dialled, greeted, host } = connectedHost('22');
  const { contact, live } = fixture(1, 'node-ffffffffffffffff', host);
  live[0]!.state = 'stale';
  live[0]!.nextTry = Number.MAX_SAFE_INTEGER; // not greeted by its own backoff in this test
  const t0 = Date.now();
  contact.tick(t0 + 1000);
  await settle();
  assert.deepEqual([greeted, dialled], [[], []], 'not within 15 s of the start (the first dial may still be on its way)');
  contact.tick(t0 + 16_000);
  await settle();
  assert.deepEqual(greeted, [nodeIdOfPeer(peerId)], 'the connected, unknown peer is greeted');
  assert.deepEqual(dialled, ['/ip4/127.0.0.1/tcp/9/p2p/16Uiu2HAmBootstrap'], 'the bootstrap list is dialled again');
  contact.tick(t0 + 20_000);
  await settle();
  assert.equal(dialled.length, 1, 'at most once per 15 s');
  live[0]!.state = 'live';
  contact.tick(t0 + 40_000);
  await settle();
  assert.equal(dialled.length, 1, 'a node with a live peer does not rejoin');
});

test('a node whose live peers are all strangers is cut off too: it dials its bootstrap list and known peers again until a member is live', async () => {
  const { dialled, host } = connectedHost('33');
  const book = Array.from({ length: 10 }, (_, i) => [`/ip4/127.0.0.1/tcp/${100 + i}/p2p/16Uiu2HAmKnown${i}`]);
  const member = 'node-00000000000000aa';
  const { contact, live } = fixture(2, 'node-ffffffffffffffff', host, { members: [member], book });
  const t0 = Date.now();
  contact.tick(t0 + 16_000);
  await settle();
  assert.equal(dialled[0], '/ip4/127.0.0.1/tcp/9/p2p/16Uiu2HAmBootstrap', 'two live strangers, no member: the bootstrap list first');
  assert.equal(dialled.length, 5, 'then 4 known peers from the book');
  assert.ok(dialled.slice(1).every((a) => book.some(([b]) => b === a)));
  live[1]!.info.nodeId = member; // a member is live now
  contact.tick(t0 + 40_000);
  await settle();
  assert.equal(dialled.length, 5, 'a node with a live member does not rejoin');
});
