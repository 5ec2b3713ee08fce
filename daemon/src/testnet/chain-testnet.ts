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
    const s = (await (await fetch(`${node.url}/status`, { signal: AbortSignal.timeout(5000) })).json()) as { chain?: ChainStatus };
    return s.chain;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Funds a freshly started node's wallet from the chain's dev faucet and waits until the node has registered itself
 * (it retries every chain poll), so that its first contribution can already be signed.
 */
export async function fundAndRegister(chain: LocalChain, node: TestnetNode, print: (l: string) => void, timeoutMs = 60_000): Promise<void> {
  const first = await chainStatus(node);
  if (!first?.address) throw new MagnetError('ERR_TESTNET', `node ${node.index} shows no chain section in /status`);
  await chain.fund([first.address]);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await chainStatus(node);
    if (s?.selfRegistration === 'registered') break;
    if (Date.now() > deadline)
      throw new MagnetError(
        'ERR_TESTNET',
        `node ${node.index} did not register on chain within ${timeoutMs / 1000}s: ${s?.selfRegistration ?? 'no status'}`,
      );
    await sleep(500);
  }
  print(`node ${node.index} registered on chain as ${first.address} (bond ${chain.env.MAGNET_CHAIN_REGISTER_BOND} ETH)`);
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
  print('waiting for the claims to settle (60 s epochs: commit, reveal, challenge, settle; about 2 minutes)…');
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
    const r = (await (await fetch(`${n.url}/chain/rewards`)).json()) as RewardsView;
    paid += r.claims.filter((c) => c.state === 'paid').length;
    print(`node ${n.index} rewards (magnet-node rewards --home ${n.home}):`);
    for (const line of formatRewards(r)) print(`  ${line}`);
  }
  return paid;
}
