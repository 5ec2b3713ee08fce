import { join } from 'node:path';
import { type NodeConfig, configValue, nodeSchema } from '../node/node-config.js';
import { type Layer, loadConfig } from '../config/load.js';
import { type JoinedNetwork, describeNetwork, fixedLayer, implicitNetwork, resolveNetwork } from '../network/joined.js';
import { REPO_ROOT } from '../version.js';

/** Builds the node config from every source; `flags` are already mapped to "group.key" names. */
export function loadNodeConfig(flags: Layer, configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return loadNodeSetup(flags, configFile, env).config;
}

/**
 * The node config and the network it is in. With `node.network` set, the spec's values are fixed over every other
 * source (an operator's setting that contradicts one is an error naming both); else the node's own settings make
 * its implicit network.
 */
export function loadNodeSetup(
  flags: Layer,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { config: NodeConfig; network: JoinedNetwork } {
  const input = { repoDefaultsFile: join(REPO_ROOT, 'config', 'default.json'), configFile, env, flags };
  const own = loadOwnConfig(flags, configFile, env);
  if (!own.node.network) return { config: own, network: implicitNetwork((key) => configValue(own, key)) };
  const network = resolveNetwork(own.node.network, own.node.home);
  const config = loadConfig(nodeSchema, { ...input, fixed: { layer: fixedLayer(network, own.node.home), name: describeNetwork(network) } });
  return { config, network };
}

/** The node config from its own sources only, no network spec applied (`doctor` reports a bad spec beside it). */
export function loadOwnConfig(flags: Layer, configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return loadConfig(nodeSchema, { repoDefaultsFile: join(REPO_ROOT, 'config', 'default.json'), configFile, env, flags });
}
