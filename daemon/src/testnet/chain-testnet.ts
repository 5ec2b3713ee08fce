import { adminFetch } from '../api/daemon-endpoint.js';
import { parseEther } from 'ethers';
import { nodeIdBytes8 } from '../chain/connection.js';
import { tierIndex } from '../chain/chain-params.js';
import { attach } from '../chain/deploy.js';
import { makeProvider } from '../chain/provider.js';
import type { NodeIdentity } from '../identity/identity.js';
import { MagnetError } from '../util/errors.js';
import type { LocalChain } from '../chain/local-chain.js';
import { formatRewards, type RewardsView } from '../chain/rewards-view.js';
import type { TestnetNode } from './testnet.js';

/** The `chain` section of a node's /status (the fields the testnet reads). */
export interface ChainStatus {
  address: string;
  selfRegistration: string;
  claims: Record<string, number>;
  waiting: number;
  lastError: string | null;
}

async function chainStatus(node: TestnetNode): Promise<ChainStatus | undefined> {
  try {
    const s = (await (await adminFetch(node.endpoint, '/status', { signal: AbortSignal.timeout(5000) })).json()) as { chain?: ChainStatus };
    return s.chain;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Funds a node's wallet from the chain's dev faucet and registers it in NodeRegistry (tier cpu_only, the testnet
 * bond), before the node starts: the registry is the member list, so every node sees every other from its first
 * read, and none runs a round alone meanwhile. A wallet already registered is left as it is.
 */
export async function registerOnChain(chain: LocalChain, id: NodeIdentity, index: number, print: (l: string) => void): Promise<void> {
  const bond = chain.env['MAGNET_CHAIN_REGISTER_BOND'] ?? '1';
  await chain.fund([id.address]);
  const provider = makeProvider(chain.rpc, BigInt(chain.deployment.chainId));
  try {
    const registry = attach(chain.deployment, id.wallet.connect(provider)).registry;
    if (!(await registry.getFunction('isRegistered')(id.address))) {
      const tx = await registry.getFunction('register')(
        '0x' + id.wallet.signingKey.publicKey.slice(4),
        nodeIdBytes8(id.nodeId),
        tierIndex('cpu_only'),
        {
          value: parseEther(bond),
        },
      );
      await tx.wait();
    }
  } finally {
    provider.destroy();
  }
  print(`node ${index} registered on chain as ${id.address} (bond ${bond} ETH)`);
}

/** One line per node whose claim counts changed since the last call. */
export function claimPrinter(print: (l: string) => void): (node: TestnetNode, s: ChainStatus | undefined) => void {
  const seen = new Map<number, string>();
  return (node, s) => {
    if (!s) return;
    const counts = Object.entries(s.claims)
      .sort()
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const line = `claims: ${counts || 'none yet'}${s.lastError ? ` (last error: ${s.lastError})` : ''}`;
    if (seen.get(node.index) !== line) {
      seen.set(node.index, line);
      print(`node ${node.index} ${line}`);
    }
  };
}

/**
 * After the rounds: waits until the claims of every node are final (none queued, committed or revealed) and at
 * least one was paid, printing claim changes, then prints every node's rewards as `magnet-node rewards` does.
 * Returns the number of paid claims.
 */
export async function settleClaims(
  nodes: TestnetNode[],
  print: (l: string) => void,
  signal: AbortSignal,
  timeoutMs = 15 * 60_000,
): Promise<number> {
  const show = claimPrinter(print);
  const deadline = Date.now() + timeoutMs;
  print(
    'waiting for the claims to settle (60 s epochs: claim, challenge window, settlement root posted, checked and finalized; about 3 minutes)…',
  );
  for (;;) {
    if (signal.aborted) throw new Error('stopped');
    const all = await Promise.all(nodes.map(chainStatus));
    all.forEach((s, i) => show(nodes[i]!, s));
    const paid = all.reduce((n, s) => n + (s?.claims['paid'] ?? 0), 0);
    const waiting = all.reduce((n, s) => n + (s ? s.waiting : 1), 0);
    if (paid > 0 && waiting === 0) break;
    if (Date.now() > deadline)
      throw new MagnetError(
        'ERR_TESTNET',
        `claims did not settle within ${timeoutMs / 60_000} min (${paid} paid, ${waiting} still waiting)`,
      );
    await sleep(2000);
  }
  let paid = 0;
  for (const n of nodes) {
    const r = (await (await adminFetch(n.endpoint, '/chain/rewards')).json()) as RewardsView;
    paid += r.claims.filter((c) => c.state === 'paid').length;
    print(`node ${n.index} rewards (magnet-node rewards --home ${n.home}):`);
    for (const line of formatRewards(r)) print(`  ${line}`);
  }
  return paid;
}
