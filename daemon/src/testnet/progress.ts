import { adminFetch } from '../api/daemon-endpoint.js';
import type { ChainStatus } from './chain-testnet.js';
import type { TestnetNode } from './testnet.js';

interface DilocoStatus {
  round: number;
  state: string;
  leader: string | null;
  latest: { sha256: string; round: number } | null;
  lastTrain?: { round: number; lossFirst: number; lossLast: number; seconds: number } | null;
  /** Seconds of the last round this node led, by phase (train, transfer, verify, merge, distribute, round). */
  phaseSeconds?: Record<string, number>;
  lastError?: string | null;
}

export interface TestnetSummary {
  finalHashes: string[];
  rounds: number;
}

/**
 * Polls every node's /status and prints one line per change (a round starting, a node's training loss, a merge),
 * and, with `onChain`, each node's chain section,
 * until every node's latest checkpoint is the merge of round `rounds - 1` (or forever when rounds is 0).
 */
export async function watchTestnet(
  nodes: TestnetNode[],
  rounds: number,
  print: (l: string) => void,
  signal: AbortSignal,
  onChain?: (node: TestnetNode, chain: ChainStatus | undefined) => void,
): Promise<TestnetSummary> {
  const seen = new Map<string, string>();
  for (;;) {
    if (signal.aborted) throw new Error('stopped');
    const statuses = await Promise.all(
      nodes.map(async (n) => {
        try {
          const s = (await (await adminFetch(n.endpoint, '/status', { signal: AbortSignal.timeout(5000) })).json()) as {
            nodeId: string;
            diloco?: DilocoStatus;
            chain?: ChainStatus;
          };
          return { n, s };
        } catch {
          return { n, s: undefined };
        }
      }),
    );
    for (const { n, s } of statuses) {
      onChain?.(n, s?.chain);
      const d = s?.diloco;
      if (!s || !d) continue;
      const say = (key: string, line: string) => {
        if (seen.get(`${n.index}:${key}`) !== line) {
          seen.set(`${n.index}:${key}`, line);
          print(`node ${n.index} ${line}`);
        }
      };
      say('round', `round ${d.round}: ${d.state}, leader ${d.leader ?? '?'}`);
      if (d.lastTrain)
        say(
          'train',
          `trained round ${d.lastTrain.round}: loss ${d.lastTrain.lossFirst.toFixed(4)} -> ${d.lastTrain.lossLast.toFixed(4)} in ${d.lastTrain.seconds.toFixed(1)}s`,
        );
      if (d.latest) say('latest', `latest = round ${d.latest.round} ${d.latest.sha256.slice(0, 16)}`);
      const p = d.phaseSeconds ?? {};
      if (p['round'] !== undefined) {
        const split = ['train', 'transfer', 'verify', 'merge', 'distribute'].map((k) => `${k} ${p[k]?.toFixed(1) ?? '-'}`).join(', ');
        say(
          'phases',
          `led a round in ${p['round'].toFixed(1)}s (${split}; not training ${((1 - (p['train'] ?? 0) / p['round']) * 100).toFixed(0)}%)`,
        );
      }
      if (d.lastError) say('error', `error: ${d.lastError}`);
    }
    const latest = statuses.map(({ s }) => s?.diloco?.latest);
    if (rounds > 0 && latest.every((l) => l && l.round >= rounds - 1)) {
      return { finalHashes: latest.map((l) => l?.sha256 ?? ''), rounds };
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
