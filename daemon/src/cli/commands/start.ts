import type { Command } from 'commander';
import { createLogger, type LogLevel } from '../../log/logger.js';
import { type AssemblyHooks, assembleNode } from '../../node/assemble.js';
import type { MagnetNode } from '../../node/node.js';
import { loadNodeConfig } from '../load-node-config.js';
import { fail } from '../output.js';

export interface StartFlags {
  home?: string;
  config?: string;
  http?: string;
  grpc?: string;
  p2p?: string;
  bootstrap?: string;
  role?: string;
  logLevel?: string;
  mdns?: boolean;
  ssdTest?: boolean;
  ipfsApi?: string;
  chainRpc?: string;
  chainDeployment?: string;
  members?: string;
}

/** Maps `start` flags onto config keys; undefined flags leave lower layers in charge. */
export function startFlagsToLayer(f: StartFlags): Record<string, unknown> {
  return {
    'node.home': f.home,
    'node.role': f.role,
    'node.logLevel': f.logLevel,
    'api.http': f.http,
    'net.grpc': f.grpc,
    'net.p2p': f.p2p,
    'net.bootstrap': f.bootstrap,
    'net.mdns': f.mdns === false ? false : undefined,
    'profile.ssdTest': f.ssdTest === false ? false : undefined,
    'storage.ipfsApi': f.ipfsApi,
    'chain.rpc': f.chainRpc,
    'chain.deployment': f.chainDeployment,
    'membership.members': f.members,
  };
}

export function registerStartCommand(program: Command): void {
  withStartOptions(program.command('start').description('run the node daemon in the foreground until SIGINT/SIGTERM')).action(
    (flags: StartFlags) => runDaemon(flags),
  );
}

/** The `start` flags, on `cmd` (also the adversary tool's, which starts a node the same way). */
export function withStartOptions(cmd: Command): Command {
  return cmd
    .option('--home <dir>', 'data directory (default ~/.magnet, env MAGNET_HOME)')
    .option('--config <file>', 'JSON config file (groups of options, see README)')
    .option('--http <host:port>', 'local HTTP API address (default 127.0.0.1:7680; port 0 = any free port)')
    .option('--grpc <host:port>', 'gRPC listen address (default 0.0.0.0:7600)')
    .option('--p2p <multiaddr>', 'libp2p listen multiaddr (default /ip4/0.0.0.0/tcp/7601)')
    .option('--bootstrap <addrs>', 'comma-separated libp2p multiaddrs of peers to join through')
    .option('--role <role>', 'auto|trainer|storage|server|light: narrow the roles the tier allows')
    .option('--log-level <level>', 'trace|debug|info|warn|error|fatal|silent')
    .option('--no-mdns', 'do not use mDNS LAN discovery')
    .option('--no-ssd-test', 'skip the SSD test (the node then cannot take a storage tier)')
    .option('--ipfs-api <url>', 'kubo RPC API (http://HOST:PORT or multiaddr) to pin shards in (env MAGNET_IPFS_API)')
    .option('--chain-rpc <url>', 'JSON-RPC URL of the EVM chain for contribution claims (env MAGNET_CHAIN_RPC)')
    .option('--chain-deployment <file>', 'deployment file from `magnet-node chain deploy` (env MAGNET_CHAIN_DEPLOYMENT)')
    .option(
      '--members <list>',
      "comma-separated wallet addresses or nodeIds of the network's members (env MAGNET_MEMBERS; default: this node alone)",
    );
}

/**
 * Runs the node in the foreground until SIGINT/SIGTERM, then stops it and exits. `hooks` and `started` are for the
 * adversary testing tool (daemon/src/adversary), which runs a real node with its honest behaviour bypassed.
 */
export async function runDaemon(flags: StartFlags, hooks: AssemblyHooks = {}, started?: (node: MagnetNode) => void): Promise<void> {
  let config;
  try {
    config = loadNodeConfig(startFlagsToLayer(flags), flags.config);
  } catch (err) {
    fail(err);
  }
  const log = createLogger(config.node.logLevel as LogLevel);
  let node;
  try {
    node = await assembleNode(config, { env: process.env, log }, hooks);
    await node.start();
  } catch (err) {
    if (node) await node.stop().catch(() => undefined);
    fail(err);
  }
  started?.(node);
  await waitForSignal();
  log.info('shutting down');
  try {
    await node.stop();
    process.exit(0);
  } catch (err) {
    fail(err);
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
