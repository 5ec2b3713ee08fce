import { join } from 'node:path';
import { type NodeConfig, nodeSchema } from '../node/node-config.js';
import { type Layer, loadConfig } from '../config/load.js';
import { REPO_ROOT } from '../version.js';

/** Builds the node config from every source; `flags` are already mapped to "group.key" names. */
export function loadNodeConfig(flags: Layer, configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return loadConfig(nodeSchema, { repoDefaultsFile: join(REPO_ROOT, 'config', 'default.json'), configFile, env, flags });
}
