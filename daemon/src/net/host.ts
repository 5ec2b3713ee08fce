import './polyfills.js'; // before libp2p: Node 20 has no Promise.withResolvers
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { bootstrap } from '@libp2p/bootstrap';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import { identify, identifyPush } from '@libp2p/identify';
import type { PeerId } from '@libp2p/interface';
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht';
import { mdns } from '@libp2p/mdns';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { getBytes, hexlify } from 'ethers';
import { createLibp2p, type Libp2p } from 'libp2p';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { ConfigError } from '../util/errors.js';

/** Private DHT protocol id: magnet nodes never join (or leak into) the public IPFS Amino DHT. */
export const DHT_PROTOCOL = '/magnet/kad/1.0.0';

export interface HostOptions {
  /** The wallet's 32-byte secp256k1 private key (0x hex): peer id and nodeId name the same key. */
  privateKey: string;
  listen: string;
  bootstrap: string[];
  mdns: boolean;
  dht: boolean;
  userAgent: string;
}

/** Checks bootstrap multiaddrs up front, so a typo fails the start with the offending value. */
export function checkBootstrap(list: string[]): void {
  for (const a of list) {
    try {
      const ma = multiaddr(a);
      if (!ma.getComponents().some((c) => c.name === 'p2p')) throw new Error('it has no /p2p/<peer id> part');
    } catch (err) {
      throw new ConfigError(
        `net.bootstrap: "${a}" is not a libp2p multiaddr with a peer id (${err instanceof Error ? err.message : String(err)}); use the full address shown by "magnet-node status", e.g. /ip4/10.0.0.5/tcp/7601/p2p/16Uiu2HA…`,
        { key: 'net.bootstrap', value: a },
      );
    }
  }
}

/**
 * The libp2p host: TCP + Noise + Yamux, identify, ping, bootstrap list, mDNS when wanted, and a LAN-mode
 * kad-dht under a private protocol id. No public bootstrap list, no relays, no UPnP.
 */
export async function createHost(o: HostOptions): Promise<Libp2p> {
  checkBootstrap(o.bootstrap);
  const discovery = [...(o.bootstrap.length > 0 ? [bootstrap({ list: o.bootstrap, timeout: 100 })] : []), ...(o.mdns ? [mdns()] : [])];
  const services = {
    identify: identify(),
    identifyPush: identifyPush(),
    ping: ping(),
    ...(o.dht ? { dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper }) } : {}),
  };
  return createLibp2p({
    privateKey: privateKeyFromRaw(getBytes(o.privateKey)),
    addresses: { listen: [o.listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: discovery,
    nodeInfo: { userAgent: o.userAgent },
    // Several nodes on one host (tests, a lab) connect faster than the default 5/s per host allows.
    connectionManager: { inboundConnectionThreshold: 100, maxConnections: 300 },
    // No libp2p ping on every connection every 10 s: with aborting off it only measured a round-trip time nobody reads;
    // liveness is the gRPC heartbeat's, and yamux keeps idle connections open with its own keep-alive.
    connectionMonitor: { enabled: false },
    services,
  });
}

/** The nodeId a secp256k1 peer id names; undefined for other key types (not magnet nodes). */
export function nodeIdOfPeer(peerId: PeerId): string | undefined {
  if (peerId.type !== 'secp256k1' || !peerId.publicKey) return undefined;
  return nodeIdFromPublicKey(hexlify(peerId.publicKey.raw));
}
