import { JsonRpcProvider, Network, Wallet } from 'ethers';

/**
 * A JSON-RPC provider for a chain that may answer instantly (anvil automines). ethers v6 caches identical
 * RPC results for 250 ms by default, including eth_getTransactionCount, which makes back-to-back
 * transactions reuse a nonce; cacheTimeout -1 turns that cache off. It also holds every request 10 ms to batch it
 * (batchStallTime), which made each call on a local node ~10x slower; requests go out at once here.
 */
export function makeProvider(rpcUrl: string, chainId?: bigint): JsonRpcProvider {
  if (chainId !== undefined) {
    return new JsonRpcProvider(rpcUrl, Network.from(chainId), {
      cacheTimeout: -1,
      staticNetwork: true,
      pollingInterval: 250,
      batchStallTime: 0,
      batchMaxCount: 1,
    });
  }
  return new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1, pollingInterval: 250, batchStallTime: 0, batchMaxCount: 1 });
}

/**
 * A wallet on `provider`. Nonces come from the node each time (no local NonceManager): a local counter goes
 * stale after a failed send, a chain restart or an evm_revert and then every later transaction hangs. Callers
 * send one transaction at a time and wait for it.
 */
export function connectWallet(privateKey: string, provider: JsonRpcProvider): Wallet {
  return new Wallet(privateKey, provider);
}
