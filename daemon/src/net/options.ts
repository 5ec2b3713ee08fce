import { bool, list, str } from '../config/schema.js';

export const netOptions = {
  grpc: str('0.0.0.0:7600', 'gRPC listen address HOST:PORT (control and data plane, TLS); port 0 picks a free port', { env: 'MAGNET_GRPC' }),
  p2p: str('/ip4/0.0.0.0/tcp/7601', 'libp2p listen multiaddr; tcp port 0 picks a free port', { env: 'MAGNET_P2P' }),
  bootstrap: list([], 'libp2p multiaddrs (with /p2p/<peer id>) of peers to join through', { env: 'MAGNET_BOOTSTRAP' }),
  mdns: bool(true, 'Find peers on the LAN with mDNS (turn off in tests: it multicasts to the LAN)', { env: 'MAGNET_MDNS' }),
};
