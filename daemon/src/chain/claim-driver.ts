import type { Logger } from '../log/logger.js';
import type { ClaimQueue, ClaimRow } from './claim-store.js';
import { type ChainConnection, chainNow } from './connection.js';
import { commitment, receiptTuple } from './receipt.js';

/** ContributionLedger.ClaimStatus. */
const ON_CHAIN = ['none', 'committed', 'revealed', 'voided', 'noshow', 'paid'] as const;

/**
 * Contributor side: drives each queued claim through commit, reveal and settlement, one step per call. Every step
 * first reads the claim's on-chain state, so a restart or an RPC failure mid-submission never submits twice and
 * never loses a claim.
 */
export class ClaimDriver {
  constructor(
    private readonly claims: ClaimQueue,
    private readonly settleBatch: number,
    private readonly log: Logger,
  ) {}

  /** Moves one claim one step, always from its on-chain state first. */
  async drive(chain: ChainConnection, claim: ClaimRow): Promise<void> {
    const { c, wallet } = chain;
    const on = await c.ledger.getFunction('claimOf')(claim.epoch, wallet.address);
    const status = ON_CHAIN[Number(on.status)] ?? 'none';
    const mine = commitment(claim.receipt, claim.nonce, wallet.address, chain.chainId, chain.d.addresses.ledger, claim.epoch);
    const [, revealOpens, revealCloses, challengeCloses] = (await c.ledger.getFunction('windows')(claim.epoch)) as bigint[];
    const now = await chainNow(chain);
    if (status !== 'none' && on.commitment !== mine) {
      // Another receipt of this node holds the epoch (two leaders signed for the same epoch): claim it later.
      if (claim.state === 'queued') return this.reslot(chain, claim, now, `epoch ${claim.epoch} holds another claim of this node`);
      return this.claims.advance(claim.digest, 'failed', {
        lastError: `epoch ${claim.epoch} already holds another commitment of this node`,
      });
    }
    if (status === 'paid') return this.claims.advance(claim.digest, 'paid', { reward: on.reward as bigint });
    if (status === 'voided') return this.claims.advance(claim.digest, 'voided', { lastError: 'claim voided by an upheld challenge' });
    if (status === 'noshow') return this.claims.advance(claim.digest, 'failed', { lastError: 'reported as a no-show (reveal missed)' });

    if (status === 'none') {
      // A commit sent before a failure and not mined yet: never send twice, and never move the claim while that
      // commit could still land in this epoch (it would be left unrevealed and reported as a no-show).
      if (await this.stillPending(chain, claim.commitTx)) return;
      if (now >= revealOpens!)
        return this.reslot(chain, claim, now, `commit window of epoch ${claim.epoch} closed before the claim was committed`);
      const [commitOpens] = (await c.ledger.getFunction('windows')(claim.epoch)) as bigint[];
      if (now < commitOpens!) return;
      if (!(await this.revealable(chain, claim))) return;
      const tx = await c.ledger.getFunction('commit')(claim.epoch, mine);
      this.claims.noteTx(claim.digest, 'commit', tx.hash as string);
      await tx.wait();
      this.log.info({ epoch: claim.epoch.toString(), round: claim.round, tx: tx.hash }, 'chain: claim committed');
      return this.claims.advance(claim.digest, 'committed', { commitTx: tx.hash as string });
    }
    if (status === 'committed') {
      if (claim.state !== 'committed') this.claims.advance(claim.digest, 'committed');
      if (now < revealOpens!) return;
      if (now >= revealCloses!)
        return this.claims.advance(claim.digest, 'expired', { lastError: `reveal window of epoch ${claim.epoch} closed` });
      if (await this.stillPending(chain, claim.revealTx)) return;
      const tx = await c.ledger.getFunction('reveal')(
        claim.epoch,
        receiptTuple(claim.receipt),
        claim.nonce,
        claim.nodeSignature,
        claim.leaderSignature,
      );
      this.claims.noteTx(claim.digest, 'reveal', tx.hash as string);
      await tx.wait();
      this.log.info({ epoch: claim.epoch.toString(), round: claim.round, tx: tx.hash }, 'chain: claim revealed');
      return this.claims.advance(claim.digest, 'revealed', { revealTx: tx.hash as string });
    }
    // revealed: settle once the challenge window is over (anyone may; settling is idempotent per batch).
    if (claim.state !== 'revealed') this.claims.advance(claim.digest, 'revealed');
    if (now < challengeCloses!) return;
    const info = await c.ledger.getFunction('epochInfo')(claim.epoch);
    if (info.openChallenges > 0n) return;
    if (!info.settled) {
      const tx = await c.ledger.getFunction('settle')(claim.epoch, this.settleBatch);
      await tx.wait();
    }
    const after = await c.ledger.getFunction('claimOf')(claim.epoch, wallet.address);
    if (ON_CHAIN[Number(after.status)] === 'paid') {
      this.log.info(
        { epoch: claim.epoch.toString(), round: claim.round, reward: after.reward.toString() },
        'chain: claim settled and credited',
      );
      this.claims.advance(claim.digest, 'paid', { reward: after.reward as bigint });
    }
  }

  /**
   * Moves an uncommitted claim to the first later epoch whose commit window is still open; the ledger accepts a
   * receipt up to MAX_CLAIM_DELAY_EPOCHS after its own epoch, beyond that the claim expires.
   */
  private async reslot(chain: ChainConnection, claim: ClaimRow, now: bigint, why: string): Promise<void> {
    const { ledger, params } = chain.c;
    let next = (await params.getFunction('epochAt')(now)) as bigint;
    if (next <= claim.epoch) next = claim.epoch + 1n;
    const [, revealOpens] = (await ledger.getFunction('windows')(next)) as bigint[];
    if (now >= revealOpens!) next += 1n;
    const maxDelay = (await ledger.getFunction('MAX_CLAIM_DELAY_EPOCHS')()) as bigint;
    if (next - claim.receipt.epoch > maxDelay) {
      return this.claims.advance(claim.digest, 'expired', {
        lastError: `${why}; epoch ${next} is more than ${maxDelay} epochs after the receipt's epoch ${claim.receipt.epoch}`,
      });
    }
    this.claims.reslot(claim.digest, next, `${why}: moved to epoch ${next}`);
    this.log.info({ round: claim.round, from: claim.epoch.toString(), to: next.toString(), why }, 'chain: claim moved to a later epoch');
  }

  /**
   * Runs every check the reveal will make of the receipt (ContributionLedger.checkClaim, by eth_call) before the
   * commit: a receipt that could never be revealed is refused now, at no gas, instead of being committed and left
   * a no-show that anyone may report for a share of this node's bond. False (the claim marked failed with the
   * contract's reason) when the ledger refuses it; an RPC failure or this node not active yet throws (retried).
   */
  private async revealable(chain: ChainConnection, claim: ClaimRow): Promise<boolean> {
    try {
      await chain.c.ledger
        .getFunction('checkClaim')
        .staticCall(claim.epoch, receiptTuple(claim.receipt), claim.nodeSignature, claim.leaderSignature);
      return true;
    } catch (err) {
      const reason = (err as { revert?: { name?: string; args?: unknown[] } }).revert;
      if (!reason?.name || reason.name === 'LedgerNodeNotActive') throw err;
      const args = (reason.args ?? []).map((a) => String(a)).join(', ');
      this.claims.advance(claim.digest, 'failed', {
        lastError: `the ledger would refuse its reveal: ${reason.name}(${args}); not committed`,
      });
      this.log.warn({ epoch: claim.epoch.toString(), round: claim.round, reason: reason.name }, 'chain: claim refused before commit');
      return false;
    }
  }

  /** True when `hash` is a transaction the node still holds unmined (a slow chain after an RPC failure). */
  private async stillPending(chain: ChainConnection, hash: string | null): Promise<boolean> {
    if (!hash) return false;
    const tx = await chain.provider.getTransaction(hash);
    return tx !== null && tx.blockNumber === null;
  }
}
