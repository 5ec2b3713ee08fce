import type { Logger } from '../log/logger.js';
import { type ChainConnection, chainNow } from './connection.js';
import type { Posting, SettlementBook } from './settlement-book.js';

/** How a node settles an epoch when nobody has yet: the claim loop (a transaction per batch of claims) or one root. */
export type SettlementMode = 'loop' | 'merkle';

type Revert = { revert?: { name?: string; args?: unknown[] } };

/**
 * Brings an epoch whose challenge window is over to settled, whoever started it: finalizes a standing Merkle posting
 * once its challenge period passed, but only when the claims on chain give the same root (a wrong one is left to the
 * notaries); continues a claim loop in progress; otherwise starts one by `mode`. Every step reads the ledger first,
 * so nodes racing each other, or a restart, never settle twice.
 */
export class EpochSettler {
  /** Postings found wrong and already reported, so the warning is logged once. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly book: SettlementBook,
    private readonly mode: SettlementMode,
    private readonly settleBatch: number,
    private readonly log: Logger,
  ) {}

  /** One step for `epoch`; once it is settled, what it credited `node` (undefined while it is not). */
  async settle(chain: ChainConnection, epoch: bigint, node: string): Promise<bigint | undefined> {
    const ledger = chain.c.ledger;
    const [info, posting] = await Promise.all([ledger.getFunction('epochInfo')(epoch), this.book.posting(chain, epoch)]);
    if (info.settled) {
      if (posting?.finalized) return this.book.finalizedCredit(chain, epoch, node);
      return (await ledger.getFunction('claimOf')(epoch, node)).reward as bigint;
    }
    if (info.openChallenges > 0n) return undefined;
    if (posting && (await this.stands(chain, epoch, posting))) {
      await this.finalize(chain, epoch, posting);
      return undefined;
    }
    if (info.settling || this.mode === 'loop') {
      if (!(await this.send(chain, 'settle', [epoch, this.settleBatch]))) return undefined;
      // The last batch settles the epoch: its credit is known in this pass.
      if (!(await ledger.getFunction('epochInfo')(epoch)).settled) return undefined;
      return (await ledger.getFunction('claimOf')(epoch, node)).reward as bigint;
    }
    await this.post(chain, epoch);
    return undefined;
  }

  /** As ContributionLedger._stands: not voided, not finalized, not overtaken, within what the epoch's day has left. */
  private async stands(chain: ChainConnection, epoch: bigint, p: Posting): Promise<boolean> {
    if (p.voided || p.finalized) return false;
    const cumulative = (await chain.c.ledger.getFunction('cumulativeCredited')()) as bigint;
    if (p.prevCumulative !== cumulative) return false;
    return p.total <= (await this.book.basis(chain, epoch)).pool;
  }

  private async finalize(chain: ChainConnection, epoch: bigint, p: Posting): Promise<void> {
    if (p.openChallenges > 0) return;
    const window = (await chain.c.params.getFunction('challengeWindow')()) as bigint;
    if ((await chainNow(chain)) < p.postedAt + window) return;
    const verdict = await this.book.check(chain, epoch, p);
    if (!verdict.ok) {
      const key = `${epoch}:${p.root}`;
      if (!this.reported.has(key)) {
        this.reported.add(key);
        this.log.warn(
          { epoch: epoch.toString(), settler: p.settler, why: verdict.why },
          'chain: a settlement posting is wrong; not finalizing it',
        );
      }
      return;
    }
    if (!(await this.simulate(chain, 'finalizeSettlement', [epoch]))) return;
    const tx = await this.send(chain, 'finalizeSettlement', [epoch]);
    if (tx) this.log.info({ epoch: epoch.toString(), root: p.root, total: p.total.toString(), tx }, 'chain: settlement finalized');
  }

  /** Posts the epoch's cumulative root; an epoch that credits nobody goes through the claim loop (it mints nothing). */
  private async post(chain: ChainConnection, epoch: bigint): Promise<void> {
    const basis = await this.book.basis(chain, epoch);
    const want = await this.book.expected(chain, epoch, basis, await this.book.cumulative(chain));
    if (!want) {
      await this.send(chain, 'settle', [epoch, this.settleBatch]);
      return;
    }
    const args = [epoch, want.root, want.total, basis.pool, basis.nodeCap];
    if (!(await this.simulate(chain, 'postSettlement', args))) return;
    const tx = await this.send(chain, 'postSettlement', args);
    if (!tx) return;
    this.log.info(
      { epoch: epoch.toString(), root: want.root, total: want.total.toString(), nodes: want.cumulative.size, tx },
      'chain: settlement posted',
    );
  }

  /**
   * Sends one settlement step; its hash, or undefined when it was mined and reverted: nodes race for the same step
   * (another node's posting, finalization or batch landed first after this node's check), and the next pass reads
   * the ledger again. Any other failure throws (retried).
   */
  private async send(chain: ChainConnection, fn: string, args: unknown[]): Promise<string | undefined> {
    const tx = await chain.c.ledger.getFunction(fn)(...args);
    try {
      await tx.wait();
      return tx.hash as string;
    } catch (err) {
      if ((err as { code?: string; receipt?: unknown }).code !== 'CALL_EXCEPTION' || !(err as { receipt?: unknown }).receipt) throw err;
      this.log.info(
        { fn, epoch: String(args[0]), tx: tx.hash },
        'chain: settlement step reverted on chain (another node took it first); next pass',
      );
      return undefined;
    }
  }

  /**
   * Runs `fn` by eth_call on the pending block first: false when the ledger refuses it for a reason another node's
   * step explains (a posting or finalization that just landed, a basis that moved); an RPC failure throws (retried).
   */
  private async simulate(chain: ChainConnection, fn: string, args: unknown[]): Promise<boolean> {
    try {
      await chain.c.ledger.getFunction(fn).staticCall(...args, { blockTag: 'pending' });
      return true;
    } catch (err) {
      const reason = (err as Revert).revert;
      if (!reason?.name || reason.name === 'LedgerNodeNotActive') throw err;
      this.log.info({ fn, reason: reason.name, args: (reason.args ?? []).map(String) }, 'chain: settlement step refused; next pass');
      return false;
    }
  }
}
