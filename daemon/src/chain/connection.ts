import type { JsonRpcProvider, Wallet } from 'ethers';
import type { ChainContracts, Deployment } from './deploy.js';

/** A started chain part's link to the chain: the provider, this node's wallet on it and the deployed contracts. */
export interface ChainConnection {
  provider: JsonRpcProvider;
  wallet: Wallet;
  c: ChainContracts;
  d: Deployment;
  chainId: bigint;
}

/** Chain time: the later of the latest block and the wall clock (a local chain mines only on demand). */
export async function chainNow(chain: ChainConnection): Promise<bigint> {
  const b = await chain.provider.getBlock('latest');
  return BigInt(Math.max(b?.timestamp ?? 0, Math.floor(Date.now() / 1000)));
}

/** "node-<16 hex>" as the registry's bytes8 key. */
export function nodeIdBytes8(nodeId: string): string {
  return '0x' + nodeId.slice('node-'.length);
}

/** The daemon's nodeId string of the registry's bytes8 nodeId (the inverse of nodeIdBytes8). */
export function nodeIdFromBytes8(bytes8: string): string {
  return `node-${bytes8.slice(2)}`;
}
