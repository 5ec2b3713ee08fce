import type { JoinedNetwork } from '../network/joined.js';
import type { Role } from '../profile/reward-config.js';
import type { NodeConfig } from './node-config.js';

/**
 * The built-in development network of one: a node started with nothing that names a network (no spec, no member
 * list, no bootstrap peer, no chain), rounds on and roles left to the hardware. It trains `tiny` rounds alone on the
 * CPU and serves each merged model, whatever its tier, so a newcomer sees the whole job run on a laptop.
 */
export function isDevNetwork(config: NodeConfig, network: JoinedNetwork): boolean {
  return (
    network.source === 'implicit' &&
    config.membership.members.length === 0 &&
    config.net.bootstrap.length === 0 &&
    config.chain.rpc === '' &&
    config.diloco.enabled &&
    config.node.role === 'auto'
  );
}

/** The roles of a node in the development network: its own, plus training and serving (the tier check is bypassed). */
export function devRoles(roles: readonly Role[]): Role[] {
  return [...new Set<Role>(['trainer', 'server', ...roles])];
}

/** What the node says at start in the development network (one line). */
export function devNetworkNotice(tier: string, bypassed: readonly Role[]): string {
  const what = bypassed.length
    ? `the tier check is bypassed for this network only (tier ${tier} alone does not allow ${bypassed.join(', ')})`
    : `tier ${tier} allows both anyway`;
  return (
    'development network of one (no --network, --members, --bootstrap or chain given): this node trains tiny rounds alone on ' +
    `the CPU and serves each merged model; ${what}. To join others, start with --network SPEC (see \`magnet-node network init\`)`
  );
}
