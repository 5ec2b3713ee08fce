import type { NodeConfig } from '../config/node-config.js';
import { MagnetNode, type NodeDeps } from './node.js';

/**
 * Builds the whole node: the core (home, identity, profile, database, HTTP API), then each part in
 * dependency order. Parts are added here, one block each, with the reason for their position.
 */
export async function assembleNode(config: NodeConfig, deps: NodeDeps): Promise<MagnetNode> {
  const node = await MagnetNode.create(config, deps);
  try {
    // Parts are wired here (net, then storage, then diloco, serve and chain), each taking only the collaborators it uses.
    return node;
  } catch (err) {
    await node.stop().catch(() => undefined);
    throw err;
  }
}
