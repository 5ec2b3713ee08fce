import { estimateReward } from './calculator.js';
import type { ClaimQueue } from './claim-store.js';
import type { ChainConnection } from './connection.js';
import type { RewardsView } from './rewards-view.js';
import type { SettlementBook } from './settlement-book.js';
import { withdrawable } from './withdrawals.js';

/** Owed and withdrawn amounts on chain plus estimates for revealed, unsettled claims (no chain: the queue alone). */
export async function readRewards(
  chain: ChainConnection | undefined,
  claims: ClaimQueue,
  address: string,
  book: SettlementBook,
): Promise<RewardsView> {
  const rows = claims.all();
  if (!chain) {
    return {
      configured: false,
      address: address,
      owed: null,
      owedByProof: null,
      tokenBalance: null,
      claims: rows.map((r) => ({
        epoch: r.epoch.toString(),
        round: r.round,
        state: r.state,
        reward: r.reward?.toString() ?? null,
        estimate: null,
      })),
    };
  }
  const { c, wallet } = chain;
  const [owed, bal, epochPool, dailyCap, shareBps] = (await Promise.all([
    c.ledger.getFunction('owed')(wallet.address),
    c.token.getFunction('balanceOf')(wallet.address),
    c.params.getFunction('epochPool')(),
    c.params.getFunction('dailyCap')(),
    c.params.getFunction('maxRewardShareBps')(),
  ])) as bigint[];
  const out = [];
  for (const r of rows) {
    let estimate: bigint | null = null;
    if (r.state === 'revealed') {
      const [on, info, start] = await Promise.all([
        c.ledger.getFunction('claimOf')(r.epoch, wallet.address),
        c.ledger.getFunction('epochInfo')(r.epoch),
        c.params.getFunction('epochStart')(r.epoch) as Promise<bigint>,
      ]);
      const emitted = (await c.ledger.getFunction('emittedOnDay')(start / 86_400n)) as bigint;
      estimate = info.settling
        ? null
        : estimateReward({
            epochPool: epochPool!,
            dailyCap: dailyCap!,
            emittedOnDay: emitted,
            maxRewardShareBps: Number(shareBps),
            weight: on.weight as bigint,
            totalWeight: info.totalWeight as bigint,
          });
    }
    out.push({
      epoch: r.epoch.toString(),
      round: r.round,
      state: r.state,
      reward: r.reward?.toString() ?? null,
      estimate: estimate?.toString() ?? null,
    });
  }
  // A cumulative root on chain that the claims do not give leaves nothing provable to withdraw: shown as unknown.
  const byProof = await withdrawable(chain, book).then(
    (w) => w.byProof.toString(),
    () => null,
  );
  return {
    configured: true,
    address: wallet.address,
    owed: owed!.toString(),
    owedByProof: byProof,
    tokenBalance: bal!.toString(),
    claims: out,
  };
}
