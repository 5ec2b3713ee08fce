import { getAddress, type Contract, type Log, type LogDescription } from 'ethers';
import type { ChainConnection } from './connection.js';

/** Where a log sits on the chain, to order a posting against the finalizations before it. */
export interface LogPosition {
  blockNumber: number;
  index: number;
}

export interface PostedEvent {
  epoch: bigint;
  settler: string;
  root: string;
  pool: bigint;
  nodeCap: bigint;
  at: LogPosition;
}

export interface FinalizedEvent {
  epoch: bigint;
  root: string;
  at: LogPosition;
}

/** Every this many syncs, the claimants of epochs settled by the claim loop are dropped. */
const PRUNE_EVERY = 10;

/** Blocks one eth_getLogs covers at most: public RPCs refuse wide ranges (commonly 10,000 blocks or fewer). */
export const LOG_WINDOW = 5_000;

/**
 * The logs of `contract` whose first topic is one of `events`, from `from` to `to`, read in windows of `window` blocks
 * and decoded with the contract's ABI.
 */
export async function readLogs(
  chain: ChainConnection,
  contract: Contract,
  events: readonly string[],
  from: number,
  to: number,
  window = LOG_WINDOW,
): Promise<{ log: Log; ev: LogDescription }[]> {
  const topics = events.map((name) => contract.interface.getEvent(name)!.topicHash);
  const address = await contract.getAddress();
  const out: { log: Log; ev: LogDescription }[] = [];
  for (let start = from; start <= to; start += window) {
    const logs = await chain.provider.getLogs({ address, fromBlock: start, toBlock: Math.min(to, start + window - 1), topics: [topics] });
    for (const log of logs) {
      const ev = contract.interface.parseLog(log);
      if (ev) out.push({ log, ev });
    }
  }
  return out;
}

/**
 * The ledger events a Merkle settlement is recomputed from, read once and then incrementally (each sync reads only the
 * blocks since the last): who claimed in each epoch (ClaimRevealed, RoundClaimed), every posting and every
 * finalization. An epoch's claimants are kept until its credits are fixed or the claim loop settled it.
 */
export class LedgerEvents {
  private scannedTo: number | undefined;
  private syncs = 0;
  private readonly claimants = new Map<bigint, Set<string>>();
  private readonly postings: PostedEvent[] = [];
  private readonly finalizations: FinalizedEvent[] = [];

  constructor(private readonly window = LOG_WINDOW) {}

  /** Reads the blocks up to the chain's head that were not read yet. */
  async sync(chain: ChainConnection): Promise<void> {
    const head = await chain.provider.getBlockNumber();
    const from = this.scannedTo === undefined ? chain.d.block : this.scannedTo + 1;
    if (from > head) return;
    const names = ['ClaimRevealed', 'RoundClaimed', 'SettlementPosted', 'SettlementFinalized'];
    for (const { log, ev } of await readLogs(chain, chain.c.ledger, names, from, head, this.window)) {
      const at = { blockNumber: log.blockNumber, index: log.index };
      const epoch = ev.args.epoch as bigint;
      if (ev.name === 'SettlementPosted') {
        const a = ev.args;
        this.postings.push({ epoch, settler: getAddress(a.settler as string), root: lower(a.root), pool: a.pool, nodeCap: a.nodeCap, at });
      } else if (ev.name === 'SettlementFinalized') {
        this.finalizations.push({ epoch, root: lower(ev.args.root), at });
      } else {
        let set = this.claimants.get(epoch);
        if (!set) this.claimants.set(epoch, (set = new Set()));
        set.add(getAddress(ev.args.node as string));
      }
    }
    this.scannedTo = head;
    if (++this.syncs % PRUNE_EVERY === 0) await this.pruneSettledByLoop(chain);
  }

  /**
   * Drops the claimants of epochs the claim loop settled: no root is ever computed for them, and without this a node
   * would keep every claimant of the network in memory. (Epochs settled by a root keep theirs until their credits are
   * computed, see forget.)
   */
  private async pruneSettledByLoop(chain: ChainConnection): Promise<void> {
    const ledger = chain.c.ledger;
    for (const epoch of [...this.claimants.keys()]) {
      const [info, posting] = await Promise.all([ledger.getFunction('epochInfo')(epoch), ledger.getFunction('settlementOf')(epoch)]);
      if (info.settled && !posting.finalized) this.claimants.delete(epoch);
    }
  }

  claimantsOf(epoch: bigint): string[] {
    return [...(this.claimants.get(epoch) ?? [])].sort();
  }

  /** Drops an epoch's claimants once nothing needs them again (its credits are fixed). */
  forget(epoch: bigint): void {
    this.claimants.delete(epoch);
  }

  /** The latest posting of `epoch` with `root`, before `until` when given. */
  posting(epoch: bigint, root: string, until?: LogPosition): PostedEvent | undefined {
    const r = root.toLowerCase();
    return this.postings.filter((p) => p.epoch === epoch && p.root === r && (!until || before(p.at, until))).at(-1);
  }

  /** Every finalization so far, in chain order. */
  finalized(): readonly FinalizedEvent[] {
    return this.finalizations;
  }
}

const lower = (x: unknown) => String(x).toLowerCase();

/** Whether `a` comes before `b` on the chain. */
export function before(a: LogPosition, b: LogPosition): boolean {
  return a.blockNumber < b.blockNumber || (a.blockNumber === b.blockNumber && a.index < b.index);
}
