import { MagnetError } from '../util/errors.js';
import type { ChainConnection } from './connection.js';
import { SettlementBook } from './settlement-book.js';

export interface Withdrawal {
  /** Paid from what the claim loop credited (ContributionLedger.owed). */
  owed: bigint;
  /** Paid by proof from the cumulative root of Merkle settlements. */
  byProof: bigint;
  txs: string[];
}

/** What this node may withdraw now: owed by the claim loop, and its cumulative credit beyond what it withdrew by proof. */
export async function withdrawable(chain: ChainConnection, book = new SettlementBook()): Promise<{ owed: bigint; byProof: bigint }> {
  const me = chain.wallet.address;
  const [owed, done] = (await Promise.all([
    chain.c.ledger.getFunction('owed')(me),
    chain.c.ledger.getFunction('withdrawnCumulative')(me),
  ])) as bigint[];
  const mine = await book.proofOf(chain, me);
  return { owed: owed!, byProof: mine && mine.cumulative > done! ? mine.cumulative - done! : 0n };
}

/** Withdraws both kinds of reward to the node's wallet; throws ERR_NOTHING_OWED when there is neither. */
export async function withdrawAll(chain: ChainConnection, book = new SettlementBook()): Promise<Withdrawal> {
  const me = chain.wallet.address;
  const ledger = chain.c.ledger;
  const out: Withdrawal = { owed: 0n, byProof: 0n, txs: [] };
  const owed = (await ledger.getFunction('owed')(me)) as bigint;
  if (owed > 0n) {
    const tx = await ledger.getFunction('withdraw')();
    await tx.wait();
    out.owed = owed;
    out.txs.push(tx.hash as string);
  }
  const mine = await book.proofOf(chain, me);
  const done = (await ledger.getFunction('withdrawnCumulative')(me)) as bigint;
  if (mine && mine.cumulative > done) {
    const tx = await ledger.getFunction('withdrawCumulative')(mine.cumulative, mine.proof);
    await tx.wait();
    out.byProof = mine.cumulative - done;
    out.txs.push(tx.hash as string);
  }
  if (out.txs.length === 0) {
    throw new MagnetError(
      'ERR_NOTHING_OWED',
      `nothing to withdraw: ${me} is owed 0 MAG by the claim loop and by Merkle settlements (claims settle after their challenge window)`,
    );
  }
  return out;
}
