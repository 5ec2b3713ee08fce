import { ChainPart } from '../chain/chain-part.js';
import { RegistryReader } from '../chain/registry-reader.js';
import { signDigest } from '../identity/signature.js';
import { Membership } from '../membership/membership.js';
import { chainRoutes } from '../chain/routes.js';
import { tierIndex } from '../chain/chain-params.js';
import type { NodeConfig } from '../config/node-config.js';
import { BlobBackendWithFiles } from '../diloco/blob-files.js';
import type { RoundCoordinator } from '../diloco/coordinator.js';
import { NetRoundNetwork, type RoundMessageHandlers, installRoundHandlers } from '../diloco/net-adapter.js';
import type { RoundNetwork } from '../diloco/ports.js';
import type { BlobBackend } from '../net/blob-backend.js';
import { DilocoPart } from '../diloco/part.js';
import { dilocoRoutes } from '../diloco/routes.js';
import { PartRoundStorage } from '../diloco/storage-adapter.js';
import { NetPart } from '../net/net-part.js';
import { netRoutes } from '../net/routes.js';
import { ServePart } from '../serve/part.js';
import { NetShardTransport, netPeerDirectory } from '../storage/net-transport.js';
import type { RetentionSource } from '../storage/maintenance.js';
import { StoragePart } from '../storage/part.js';
import { storageRoutes } from '../storage/routes.js';
import { formatHostPort } from '../util/host-port.js';
import { VERSION } from '../version.js';
import { MagnetNode, type NodeDeps } from './node.js';

/**
 * Decorators for what a node says on the wire. Only the adversary testing tool (daemon/src/adversary) sets them, to
 * run a real node whose honest behaviour is bypassed; `magnet-node start` never does.
 */
export interface AssemblyHooks {
  /** The net part, once made (the adversary sends its crafted messages through it). */
  net?(net: NetPart, node: MagnetNode): void;
  roundNetwork?(n: RoundNetwork, node: MagnetNode): RoundNetwork;
  roundHandlers?(h: RoundMessageHandlers, node: MagnetNode): RoundMessageHandlers;
  blobBackend?(b: BlobBackend, node: MagnetNode): BlobBackend;
}

/**
 * Builds the whole node: the core (home, identity, profile, database, HTTP API), then each part in
 * dependency order. Parts are added here, one block each, with the reason for their position.
 */
export async function assembleNode(config: NodeConfig, deps: NodeDeps, hooks: AssemblyHooks = {}): Promise<MagnetNode> {
  const node = await MagnetNode.create(config, deps);
  try {
    // Parts are wired here (membership, net, then storage, then diloco, serve and chain), each taking only the
    // collaborators it uses.

    // membership first: net authorizes every call with it, diloco counts votes against it. With a chain it is the
    // NodeRegistry's bonded wallets (read by the chain code), else the operator's list (or this node alone).
    const c = config.chain;
    const registry = c.rpc && c.deployment ? new RegistryReader(c.rpc, c.deployment) : undefined;
    const membership = new Membership(config.membership, {
      self: { nodeId: node.identity.nodeId, address: node.identity.address },
      ...(registry ? { registry } : {}),
      log: node.log.child({ part: 'membership' }),
    });
    node.addPart('membership', membership, () => membership.status());

    // net next: every other part talks to peers through it (node.net: peers(), client(nodeId), events).
    const net = new NetPart({
      config: config.net,
      home: node.home,
      log: node.log.child({ part: 'net' }),
      metrics: node.metrics,
      db: node.db,
      identity: node.identity,
      self: { tier: node.tier.tier, roles: node.roles, version: VERSION },
      members: membership,
    });
    node.addPart('net', net, () => net.status());
    hooks.net?.(net, node);
    // Adds the libp2p multiaddrs and the gRPC address beside the HTTP address in /status "listen".
    node.addPart('listen', { start: async () => undefined, stop: async () => undefined }, () => ({
      http: node.ready() ? formatHostPort(node.http.address) : null,
      p2p: net.multiaddrs(),
      grpc: net.grpcListen || null,
    }));
    node.http.add(...netRoutes(net));

    // storage after net: shards travel over net's data plane, and net serves and receives them through the
    // storage part's embedded store (its BlobBackend).
    // GC keeps what rounds still need: the round window and the latest checkpoint (the diloco part, made below).
    const late: { rounds?: RoundCoordinator } = {};
    const retention: RetentionSource = {
      currentRound: () => late.rounds?.currentRound() ?? 0,
      latest: () => late.rounds?.latestManifest(),
      claimed: () => [],
    };
    const storage = new StoragePart({
      retention,
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

    // chain (issue 8) before diloco: diloco records accepted gradients into chain.contributions (SQLite, always,
    // even with no chain configured); with MAGNET_CHAIN_RPC and MAGNET_CHAIN_DEPLOYMENT set, the claim loop signs,
    // commits, reveals and settles them. It needs only the database and the wallet.
    const chain = new ChainPart({
      options: config.chain,
      db: node.db,
      identity: node.identity,
      log: node.log.child({ part: 'chain' }),
      tierIndex: tierIndex(node.tier.tier),
    });
    node.addPart('chain', chain, () => chain.status());
    node.http.add(...chainRoutes(chain));

    // serve after storage (issue 5): the OpenAI-compatible /v1 routes and the ternary model they answer with. It
    // needs none of the parts above; it comes before diloco, which hands it each merged model (serve.swapModel).
    const serve = new ServePart({ options: config.serve, roles: node.roles, log: node.log.child({ part: 'serve' }) });
    node.addPart('serve', serve, () => serve.status());
    node.http.add(...serve.routes());

    const roundNetwork = new NetRoundNetwork(net, config.net.staleSeconds * 1000);
    // diloco after storage: rounds move checkpoints and gradients through storage and signal over net. Its round
    // handlers are installed before net starts answering, so no announcement meets UNIMPLEMENTED.
    const diloco = new DilocoPart({
      options: config.diloco,
      self: { nodeId: node.identity.nodeId, address: node.identity.address, roles: node.roles },
      home: node.home.sub('diloco'),
      db: node.db,
      log: node.log.child({ part: 'diloco' }),
      metrics: node.metrics,
      network: hooks.roundNetwork?.(roundNetwork, node) ?? roundNetwork,
      storage: new PartRoundStorage(storage),
      members: membership,
      signer: { nodeId: node.identity.nodeId, sign: (digest) => signDigest(node.identity.signingKey, digest) },
      // Accepted gradients become contribution records the chain part claims (kept in SQLite with no chain too).
      contributions: chain.contributions,
      // The leader's signed receipts travel in the round outcome; each contributor queues its own claim.
      receipts: {
        forRound: async (round) => JSON.stringify(await chain.leaderReceipts(round)),
        accept: async (json) =>
          void (await chain.acceptLeaderReceipts(JSON.parse(json) as Parameters<typeof chain.acceptLeaderReceipts>[0])),
      },
      // Each merged model is exported to GGUF and hot-swapped in, when this node serves.
      models: serve,
    });
    installRoundHandlers(net, hooks.roundHandlers?.(diloco.coordinator, node) ?? diloco.coordinator);
    const backend = new BlobBackendWithFiles(
      storage.local,
      (sha) => diloco.coordinator.fileOf(sha),
      (sha) => diloco.coordinator.publicFile(sha),
    );
    net.setBlobBackend(hooks.blobBackend?.(backend, node) ?? backend);
    late.rounds = diloco.coordinator;
    node.addPart('diloco', diloco, () => diloco.status());
    node.http.add(...dilocoRoutes(diloco));
    return node;
  } catch (err) {
    await node.stop().catch(() => undefined);
    throw err;
  }
}
