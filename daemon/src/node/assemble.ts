import { ChainPart } from '../chain/chain-part.js';
import { RegistryReader } from '../chain/registry-reader.js';
import { signDigest } from '../identity/signature.js';
import { Membership } from '../membership/membership.js';
import { chainRoutes } from '../chain/routes.js';
import { tierIndex } from '../chain/chain-params.js';
import type { NodeConfig } from './node-config.js';
import { BlobBackendWithFiles } from './wiring/blob-files.js';
import { NetRoundNetwork, type RoundMessageHandlers, roundHandlersOf } from './wiring/round-network.js';
import type { RoundNetwork } from '../diloco/ports.js';
import type { BlobBackend } from '../net/blob-backend.js';
import { usableGpus } from '../diloco/devices.js';
import { DilocoPart } from '../diloco/part.js';
import { dataSliceOf } from '../diloco/trainer-jobs.js';
import { dilocoRoutes } from '../diloco/routes.js';
import { PartRoundStorage } from './wiring/round-storage.js';
import { netMetrics } from '../net/metrics.js';
import { NetPart } from '../net/net-part.js';
import { NetSecurity } from '../net/net-security.js';
import { Peers } from '../net/peers.js';
import { netRoutes } from '../net/routes.js';
import { ServePart } from '../serve/part.js';
import { NetShardTransport, netPeerDirectory } from './wiring/shard-transport.js';
import { StoragePart } from '../storage/part.js';
import { storageRoutes } from '../storage/routes.js';
import { formatHostPort } from '../util/host-port.js';
import { VERSION } from '../version.js';
import { dashboardRoutes } from './dashboard-routes.js';
import { partMetrics } from './wiring/part-metrics.js';
import { requestMetrics } from '../serve/serve-metrics.js';
import { MagnetNode, type NodeDeps } from './node.js';
import { creditBook, receiptExchange, submissionBook } from './wiring/receipts.js';
import { roundRetention } from './wiring/round-retention.js';
import { NetResearchPeers, researchStorage } from './wiring/research-peers.js';
import { ResearchPart } from '../research/part.js';
import type { ResearchPeers } from '../research/ports.js';
import { researchRoutes } from '../research/routes.js';

/**
 * Decorators for what a node says on the wire. Only the adversary testing tool (daemon/src/adversary) sets them, to
 * run a real node whose honest behaviour is bypassed; `magnet-node start` never does.
 */
export interface AssemblyHooks {
  /** The peer table and its signed clients, once made (the adversary sends its crafted messages through them). */
  peers?(peers: Peers, node: MagnetNode): void;
  roundNetwork?(n: RoundNetwork, node: MagnetNode): RoundNetwork;
  roundHandlers?(h: RoundMessageHandlers, node: MagnetNode): RoundMessageHandlers;
  blobBackend?(b: BlobBackend, node: MagnetNode): BlobBackend;
  researchPeers?(p: ResearchPeers, node: MagnetNode): ResearchPeers;
}

/**
 * Builds the whole node: the core (home, identity, profile, database, HTTP API), then each part in
 * dependency order. Parts are added here, one block each, with the reason for their position.
 */
export async function assembleNode(config: NodeConfig, deps: NodeDeps, hooks: AssemblyHooks = {}): Promise<MagnetNode> {
  const node = await MagnetNode.create(config, deps);
  try {
    // Every part is made here with all its collaborators (no setter, no late binding), each taking only what it
    // uses; they start in the order added below.

    // membership first: net authorizes every call with it, diloco counts votes against it. With a chain it is the
    // NodeRegistry's bonded wallets (read by the chain code), else the operator's list (or this node alone).
    const c = config.chain;
    const registry = c.rpc && c.deployment ? new RegistryReader(c.rpc, c.deployment) : undefined;
    const membership = new Membership(config.membership, {
      self: { nodeId: node.identity.nodeId, address: node.identity.address },
      ...(registry ? { registry } : {}),
      log: node.log.child({ part: 'membership' }),
    });

    // The peers next: every part that talks to peers (storage, diloco) holds this table and its signed clients; the
    // net part (made last, started first) fills it. The security material loads when net starts.
    const netLog = node.log.child({ part: 'net' });
    const netM = netMetrics(node.metrics);
    const security = new NetSecurity({ config: config.net, tlsDir: node.home.sub('tls'), identity: node.identity, log: netLog });
    const peers = new Peers({
      config: config.net,
      db: node.db,
      identity: node.identity,
      members: membership,
      log: netLog,
      metrics: netM,
      security,
    });
    hooks.peers?.(peers, node);

    // storage: shards travel to peers over their clients. GC keeps what rounds still need: the round window and the
    // latest checkpoint, read from the rounds' records in SQLite (the diloco part writes them).
    const storage = new StoragePart({
      retention: roundRetention(node.db),
      options: config.storage,
      dir: node.home.sub('shards'),
      identity: node.identity,
      db: node.db,
      log: node.log.child({ part: 'storage' }),
      metrics: node.metrics,
      transport: new NetShardTransport(peers),
      peers: netPeerDirectory(peers),
      selfStores: node.roles.includes('storage'),
      signal: node.signal,
    });

    // chain before diloco: diloco records accepted gradients into chain.contributions (SQLite, always, even with no
    // chain configured); with MAGNET_CHAIN_RPC and MAGNET_CHAIN_DEPLOYMENT set, the claim loop signs, commits,
    // reveals and settles them. It needs only the database and the wallet.
    const chain = new ChainPart({
      options: config.chain,
      db: node.db,
      identity: node.identity,
      log: node.log.child({ part: 'chain' }),
      tierIndex: tierIndex(node.tier.tier),
      signal: node.signal,
      // Receipts from round outcomes must match a gradient this node submitted (the rounds' own tables).
      submissions: submissionBook(node.db, node.identity.nodeId),
    });

    // serve before diloco, which hands it each merged model (serve.swapModel): the OpenAI-compatible /v1 routes and
    // the ternary model they answer with.
    const serve = new ServePart({ options: config.serve, roles: node.roles, log: node.log.child({ part: 'serve' }) });

    // diloco after storage, chain and serve: rounds move checkpoints and gradients through storage, signal peers
    // over their clients, record contributions in chain and hand merged models to serve.
    const roundNetwork = new NetRoundNetwork(peers, config.net.staleSeconds * 1000);
    const diloco = new DilocoPart({
      options: config.diloco,
      // Members named in the network spec read disjoint slices; other nodes the slice their nodeId hashes to.
      dataSlice: dataSliceOf(node.identity, config.diloco, config.membership.members),
      // Several GPUs: the inner loop runs data parallel over them (diloco.devices).
      gpus: usableGpus(node.profile.hardware.gpus.length, deps.env),
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
      receipts: receiptExchange(chain),
      // Each merged model is exported to GGUF and hot-swapped in, when this node serves.
      models: serve,
      // The node's shutdown signal: refuses round messages, stops the loop and cuts trainer jobs at once.
      signal: node.signal,
    });

    // research after storage: trial checkpoints and findings are blobs there; trials run through the same trainer
    // the rounds use. Every trainer runs trials members offer it; a node told `research start` leads a plan.
    const researchPeers = new NetResearchPeers(peers, config.net.staleSeconds * 1000);
    const research = new ResearchPart({
      options: config.research,
      self: { nodeId: node.identity.nodeId, roles: node.roles },
      python: config.diloco.python,
      networkData: config.diloco.data,
      db: node.db,
      dir: node.home.sub('research'),
      log: node.log.child({ part: 'research' }),
      peers: hooks.researchPeers?.(researchPeers, node) ?? researchPeers,
      storage: researchStorage(storage),
      signer: { nodeId: node.identity.nodeId, sign: (digest) => signDigest(node.identity.signingKey, digest) },
      // Trials run for others become contribution records and, through the chain part, receipts and claims.
      credits: creditBook(chain),
      env: deps.env,
      signal: node.signal,
    });

    // net last, with everything it answers peers with: the data plane serves the storage part's store, then the
    // round files by hash (a checkpoint or gradient even when shared storage could not take it); the round RPCs go
    // to the coordinator.
    const backend = new BlobBackendWithFiles(
      storage.backend,
      (sha) => diloco.coordinator.fileOf(sha),
      (sha) => diloco.coordinator.publicFile(sha),
    );
    const net = new NetPart({
      config: config.net,
      stagingDir: node.home.sub('incoming'),
      log: netLog,
      metrics: netM,
      identity: node.identity,
      self: { tier: node.tier.tier, roles: node.roles, version: VERSION, networkId: node.network.id },
      peers,
      security,
      backend: hooks.blobBackend?.(backend, node) ?? backend,
      rounds: roundHandlersOf(hooks.roundHandlers?.(diloco.coordinator, node) ?? diloco.coordinator),
      research: research.handlers(),
      signal: node.signal,
    });

    // Start order: membership, then net (peers must be reachable before any part calls them; the round handlers
    // answer from the first call), then the parts in the order they were made. Stop runs in reverse.
    node.addPart('membership', membership, () => membership.status());
    node.addPart('net', net, () => net.status());
    // Adds the libp2p multiaddrs and the gRPC address beside the HTTP addresses in /status "listen".
    node.addPart('listen', { start: async () => undefined, stop: async () => undefined }, () => ({
      api: node.ready() ? formatHostPort(node.api.address) : null,
      admin: node.ready() ? formatHostPort(node.admin.address) : null,
      p2p: net.multiaddrs(),
      grpc: net.grpcListen || null,
    }));
    node.addPart('storage', storage, () => storage.status());
    node.addPart('chain', chain, () => chain.status());
    node.addPart('serve', serve, () => serve.status());
    node.addPart('diloco', diloco, () => diloco.status());
    node.addPart('research', research, () => research.status());
    node.admin.add(
      ...netRoutes(peers, net),
      ...storageRoutes(storage),
      ...chainRoutes(chain),
      ...dilocoRoutes(diloco),
      ...researchRoutes(research),
    );
    // The operator's page: every part's status and the loss curve, live (`magnet-node dashboard` opens it with the token).
    node.admin.add(...dashboardRoutes({ status: () => node.status(), losses: () => diloco.lossHistory() }));
    node.api.add(...serve.routes());
    partMetrics(node.metrics, { serve, chain });
    requestMetrics(node.metrics, serve.service);
    return node;
  } catch (err) {
    await node.stop().catch(() => undefined);
    throw err;
  }
}
