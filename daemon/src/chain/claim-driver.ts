import { ZeroHash } from 'ethers';
import type { Logger } from '../log/logger.js';
import type { ClaimQueue, ClaimRow } from './claim-store.js';
import { type ChainConnection, chainNow } from './connection.js';
import type { EpochSettler } from './epoch-settler.js';
import { commitment, receiptTuple } from './receipt.js';
import { roundClaimTuple } from './round-tree.js';

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
    private readonly settler: EpochSettler,
    private readonly log: Logger,
  ) {}

  /** Moves one claim one step, always from its on-chain state first. */
  async drive(chain: ChainConnection, row: ClaimRow): Promise<void> {
    let claim = row;
    const { c, wallet } = chain;
    const on = await c.ledger.getFunction('claimOf')(claim.epoch, wallet.address);
    const status = ON_CHAIN[Number(on.status)] ?? 'none';
    const mine = commitment(claim.receipt, claim.nonce, wallet.address, chain.chainId, chain.d.addresses.ledger, claim.epoch);
    const [, revealOpens, revealCloses, challengeCloses] = (await c.ledger.getFunction('windows')(claim.epoch)) as bigint[];
    const now = await chainNow(chain);
    if (claim.leaf && claim.route === 'receipt' && claim.state === 'queued') {
      if (await this.claimFromRoot(chain, claim, status, now)) return;
      claim = this.claims.get(claim.digest)!; // the leaf was dropped: on as a receipt
    }
    // A claim made from a root holds no commitment: the epoch's claim is the sum of its leaves (and receipts).
    if (status !== 'none' && on.commitment !== mine && claim.route !== 'root') {
      // Another receipt of this node holds the epoch (two leaders signed for the same epoch): claim it later.
      if (claim.state === 'queued') return this.reslot(chain, claim, now, `epoch ${claim.epoch} holds another claim of this node`);
      return this.claims.advance(claim.digest, 'failed', {
        lastError: `epoch ${claim.epoch} already holds another commitment of this node`,
      });
    }
    if (status === 'paid') return this.claims.advance(claim.digest, 'paid', { reward: this.share(claim, on.reward as bigint) });
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
    // revealed: settled once the challenge window is over, by the claim loop or a Merkle settlement (anyone may).
    if (claim.state !== 'revealed') this.claims.advance(claim.digest, 'revealed');
    if (now < challengeCloses!) return;
    const credit = await this.settler.settle(chain, claim.epoch, wallet.address);
    if (credit === undefined) return;
    this.log.info({ epoch: claim.epoch.toString(), round: claim.round, reward: credit.toString() }, 'chain: claim settled and credited');
    this.claims.advance(claim.digest, 'paid', { reward: this.share(claim, credit) });
  }

  /**
   * The ledger credits one amount per node and epoch; when several claims of this node made up that epoch (leaves of
   * several roots), the first one paid records it and the others what is left (zero), so rewards add up once.
   */
  private share(claim: ClaimRow, epochReward: bigint): bigint {
    const recorded = this.claims.rewardRecordedInEpoch(claim.epoch, claim.digest);
    return epochReward > recorded ? epochReward - recorded : 0n;
  }

  /**
   * A claim whose leader sealed a root for its round: claimed from that root in the reveal window of the receipt's
   * epoch (one transaction, no commitment, so no no-show). True while the root path holds (claimed, or waiting for
   * the leader's commit or the reveal window); false once the leaf was dropped and the claim goes on as a receipt: the
   * root was not committed by three quarters into the commit window, is another root, or the ledger refuses the leaf.
   */
  private async claimFromRoot(chain: ChainConnection, claim: ClaimRow, status: string, now: bigint): Promise<boolean> {
    const leaf = claim.leaf!;
    const r = claim.receipt;
    const drop = (why: string) => {
      this.claims.dropLeaf(claim.digest, why);
      this.log.info({ epoch: claim.epoch.toString(), round: claim.round, why }, 'chain: claiming by receipt instead of root');
      return false;
    };
    if (claim.epoch !== r.epoch) return drop(`the claim moved to epoch ${claim.epoch}; the root pays only in ${r.epoch}`);
    const ledger = chain.c.ledger;
    const root = await ledger.getFunction('roundOf')(r.leader, r.round);
    const [commitOpens, revealOpens, revealCloses] = (await ledger.getFunction('windows')(r.epoch)) as bigint[];
    const committed = root.root !== ZeroHash;
    if (!committed) {
      // The leader commits on its next pass after sealing; a receipt signed for this epoch came with at least a
      // quarter of the window left, and the last quarter stays for a commit by receipt.
      if (now < commitOpens! + ((revealOpens! - commitOpens!) * 3n) / 4n) return true;
      return drop(`leader ${r.leader} did not commit its root of round ${r.round} by three quarters into the commit window`);
    }
    if (root.root.toLowerCase() !== leaf.root.toLowerCase() || (root.epoch as bigint) !== r.epoch)
      return drop(`leader ${r.leader} committed another root for round ${r.round}`);
    if (root.voided) {
      this.claims.advance(claim.digest, 'voided', { lastError: `a panel voided the roots of leader ${r.leader} in epoch ${r.epoch}` });
      return true;
    }
    if (((root.claimedBits as bigint) >> BigInt(leaf.index)) & 1n) {
      this.claims.claimedByRoot(claim.digest, claim.revealTx ?? ''); // sent before a restart, mined since
      return true;
    }
    if (await this.stillPending(chain, claim.revealTx)) return true;
    if (now < revealOpens!) return true;
    if (now >= revealCloses!) return drop(`the reveal window of epoch ${r.epoch} closed before the leaf was claimed`);
    if (status === 'committed') return true; // a receipt of this epoch is revealed first (LedgerRevealFirst)
    const args = [roundClaimTuple({ ...r, index: leaf.index }), leaf.proof] as const;
    try {
      await ledger.getFunction('claimRound').staticCall(...args, { blockTag: 'pending' });
    } catch (err) {
      const reason = (err as { revert?: { name?: string; args?: unknown[] } }).revert;
      if (!reason?.name || reason.name === 'LedgerNodeNotActive') throw err;
      if (reason.name === 'LedgerRevealOutsideWindow') return true; // the last block lags the wall clock: not yet
      return drop(`the ledger refuses the leaf: ${reason.name}(${(reason.args ?? []).map(String).join(', ')})`);
    }
    const tx = await ledger.getFunction('claimRound')(...args);
    this.claims.noteTx(claim.digest, 'reveal', tx.hash as string);
    await tx.wait();
    this.claims.claimedByRoot(claim.digest, tx.hash as string);
    this.log.info({ epoch: r.epoch.toString(), round: claim.round, tx: tx.hash }, 'chain: claimed from the round root');
    return true;
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
