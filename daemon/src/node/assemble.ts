import type { NodeConfig } from '../config/node-config.js';
import { NetPart } from '../net/net-part.js';
import { netRoutes } from '../net/routes.js';
import { ServePart } from '../serve/part.js';
import { NetShardTransport, netPeerDirectory } from '../storage/net-transport.js';
import { StoragePart } from '../storage/part.js';
import { storageRoutes } from '../storage/routes.js';
import { formatHostPort } from '../util/host-port.js';
import { VERSION } from '../version.js';
import { MagnetNode, type NodeDeps } from './node.js';

/**
 * Builds the whole node: the core (home, identity, profile, database, HTTP API), then each part in
 * dependency order. Parts are added here, one block each, with the reason for their position.
 */
export async function assembleNode(config: NodeConfig, deps: NodeDeps): Promise<MagnetNode> {
  const node = await MagnetNode.create(config, deps);
  try {
    // Parts are wired here (net, then storage, then diloco, serve and chain), each taking only the collaborators it uses.

    // net first: every other part talks to peers through it (node.net: peers(), client(nodeId), events).
    const net = new NetPart({
      config: config.net,
      home: node.home,
      log: node.log.child({ part: 'net' }),
      metrics: node.metrics,
      db: node.db,
      identity: node.identity,
      self: { tier: node.tier.tier, roles: node.roles, version: VERSION },
    });
    node.addPart('net', net, () => net.status());
    // Adds the libp2p multiaddrs and the gRPC address beside the HTTP address in /status "listen".
    node.addPart('listen', { start: async () => undefined, stop: async () => undefined }, () => ({
      http: node.ready() ? formatHostPort(node.http.address) : null,
      p2p: net.multiaddrs(),
      grpc: net.grpcListen || null,
    }));
    node.http.add(...netRoutes(net));

    // storage after net: shards travel over net's data plane, and net serves and receives them through the
    // storage part's embedded store (its BlobBackend).
    const storage = new StoragePart({
      options: config.storage,
      dir: node.home.sub('shards'),
      identity: node.identity,
      db: node.db,
      log: node.log.child({ part: 'storage' }),
      metrics: node.metrics,
      transport: new NetShardTransport(net),
      peers: netPeerDirectory(net),
    });
    net.setBlobBackend(storage.local);
    node.addPart('storage', storage, () => storage.status());
    node.http.add(...storageRoutes(storage));

    // serve after storage (issue 5): the OpenAI-compatible /v1 routes and the ternary model they answer with. It
    // needs none of the parts above; it comes before diloco, which hands it each merged model (serve.swapModel).
    const serve = new ServePart({ options: config.serve, roles: node.roles, log: node.log.child({ part: 'serve' }) });
    node.addPart('serve', serve, () => serve.status());
    node.http.add(...serve.routes());
    return node;
  } catch (err) {
    await node.stop().catch(() => undefined);
    throw err;
  }
}
