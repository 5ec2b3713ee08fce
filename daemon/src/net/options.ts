import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { type Values, bool, choice, int, list, str } from '../config/schema.js';

const MiB = 1024 * 1024;

export const netOptions = {
  grpc: str('0.0.0.0:7600', 'gRPC listen address HOST:PORT (control and data plane, TLS); port 0 picks a free port', {
    env: 'MAGNET_GRPC',
    flag: '--grpc <host:port>',
  }),
  grpcAdvertise: str(
    '',
    'HOST:PORT other nodes should dial for gRPC (default: the listen address, with 0.0.0.0 replaced by the libp2p address host)',
    { env: 'MAGNET_GRPC_ADVERTISE' },
  ),
  p2p: str('/ip4/0.0.0.0/tcp/7601', 'libp2p listen multiaddr; tcp port 0 picks a free port', {
    env: 'MAGNET_P2P',
    flag: '--p2p <multiaddr>',
  }),
  bootstrap: list([], 'libp2p multiaddrs (with /p2p/<peer id>) of peers to join through', {
    env: 'MAGNET_BOOTSTRAP',
    flag: '--bootstrap <addrs>',
    check: (v) => {
      for (const a of v) {
        const problem = bootstrapProblem(a);
        if (problem) return `"${a.slice(0, 120)}": ${problem}`;
      }
      return undefined;
    },
  }),
  mdns: bool(true, 'Find peers on the LAN with mDNS (turn off in tests: it multicasts to the LAN)', {
    env: 'MAGNET_MDNS',
    flag: '--no-mdns',
  }),
  dht: bool(
    false,
    "Run a private (LAN-mode) kad-dht among magnet nodes. Off by default: magnet's own peer exchange (GetPeers) finds peers and nothing queries the DHT, which costs each node about 10 MiB and CPU while peers join",
    { env: 'MAGNET_DHT' },
  ),
  authMode: choice('wallet', ['wallet', 'hmac'] as const, 'How RPCs are signed: wallet (secp256k1, default) or hmac (cluster secret)', {
    env: 'MAGNET_AUTH_MODE',
  }),
  clusterSecret: str('', 'Shared cluster secret for hmac mode (at least 16 bytes)', { env: 'MAGNET_CLUSTER_SECRET', secret: true }),
  windowSeconds: int(300, 'Accepted clock difference for signed requests (+- seconds)', { env: 'MAGNET_AUTH_WINDOW', min: 10, max: 3600 }),
  nonceCacheMax: int(
    200_000,
    'Most nonces remembered for replay detection from non-member peers, all together (members are bounded per peer only)',
    {
      env: 'MAGNET_NONCE_CACHE_MAX',
      min: 1000,
      max: 10_000_000,
    },
  ),
  noncesPerPeer: int(8192, 'Most nonces one peer may have in the replay window; beyond it only that peer is refused (peer_nonce_limit)', {
    env: 'MAGNET_NONCES_PER_PEER',
    min: 64,
    max: 1_000_000,
  }),
  heartbeatSeconds: int(30, 'Seconds between heartbeats to each peer', { env: 'MAGNET_HEARTBEAT', min: 1, max: 3600 }),
  staleSeconds: int(120, 'A peer without a heartbeat for this long is stale', { env: 'MAGNET_PEER_STALE', min: 2, max: 86_400 }),
  maxControlBytes: int(64 * 1024, 'Largest control-plane message accepted (bytes)', {
    env: 'MAGNET_MAX_CONTROL_BYTES',
    min: 1024,
    max: 16 * MiB,
  }),
  chunkBytes: int(MiB, 'Data-plane chunk size (bytes)', { env: 'MAGNET_CHUNK_BYTES', min: 4096, max: 8 * MiB }),
  maxBlobBytes: int(4096 * MiB, 'Largest blob accepted over the data plane (bytes)', {
    env: 'MAGNET_MAX_BLOB_BYTES',
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
  }),
  controlRatePerSecond: int(
    20,
    'RPCs per second allowed per peer (claimed nodeId and IP range), checked before the signature (token bucket refill)',
    {
      env: 'MAGNET_CONTROL_RATE',
      min: 1,
      max: 100_000,
    },
  ),
  controlBurst: int(60, 'RPC burst allowed per peer (token bucket size)', { env: 'MAGNET_CONTROL_BURST', min: 1, max: 100_000 }),
  ipRatePerSecond: int(200, 'RPCs per second allowed per IP range (/24 IPv4, /48 IPv6), every key together, checked before the signature', {
    env: 'MAGNET_IP_RATE',
    min: 1,
    max: 1_000_000,
  }),
  ipBurst: int(400, 'RPC burst allowed per IP range (token bucket size)', { env: 'MAGNET_IP_BURST', min: 1, max: 1_000_000 }),
  stagingTimeoutSeconds: int(
    3600,
    'A partial upload (incoming/*.part) untouched this long is deleted (the sender may resume before that)',
    {
      env: 'MAGNET_STAGING_TIMEOUT',
      min: 10,
      max: 30 * 86_400,
    },
  ),
  maxConcurrentStreams: int(8, 'Data-plane streams running at once per peer', { env: 'MAGNET_MAX_STREAMS', min: 1, max: 1024 }),
  callDeadlineSeconds: int(10, 'Deadline of control-plane calls (seconds)', { env: 'MAGNET_CALL_DEADLINE', min: 1, max: 600 }),
  blobDeadlineSeconds: int(600, 'Deadline of one data-plane stream (seconds)', { env: 'MAGNET_BLOB_DEADLINE', min: 1, max: 86_400 }),
  maxPeers: int(64, 'Most non-member peers kept in the live set (members always get a seat)', {
    env: 'MAGNET_MAX_PEERS',
    min: 1,
    max: 100_000,
  }),
  maxPeersPerIpRange: int(8, 'Most non-member peers from one IP range (/24 IPv4, /48 IPv6)', {
    env: 'MAGNET_MAX_PEERS_PER_RANGE',
    min: 1,
    max: 100_000,
  }),
  tlsCert: str('', 'Operator PKI: PEM certificate file for gRPC TLS (with tlsKey and tlsCa, replaces the self-signed one and pinning)', {
    env: 'MAGNET_P2P_CERT',
  }),
  tlsKey: str('', 'Operator PKI: PEM private key file for tlsCert', { env: 'MAGNET_P2P_KEY' }),
  tlsCa: str('', 'Operator PKI: PEM CA bundle file that signs every peer certificate', { env: 'MAGNET_P2P_CA' }),
};

export type NetOptions = Values<typeof netOptions>;

/** What is wrong with a bootstrap address: not a multiaddr, no /p2p/ part, or a peer id that is not one. */
function bootstrapProblem(a: string): string | undefined {
  try {
    multiaddr(a);
  } catch {
    return 'not a libp2p multiaddr (like /ip4/1.2.3.4/tcp/7601/p2p/16Uiu2HA…, as /status shows it)';
  }
  const id = /\/p2p\/([^/]+)/.exec(a)?.[1];
  if (!id) return 'it has no /p2p/<peer id> part';
  try {
    peerIdFromString(id);
  } catch {
    return `"${id.slice(0, 60)}" is not a libp2p peer id`;
  }
  return undefined;
}
