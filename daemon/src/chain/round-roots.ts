import { ZeroHash, getAddress } from 'ethers';
import type { Logger } from '../log/logger.js';
import type { ContributionStore, LedRoot } from './claim-store.js';
import { type ChainConnection, chainNow } from './connection.js';
import { buildRoundTree, roundLeafHash, type RoundLeaf } from './round-tree.js';

/** ContributionLedger.MAX_ROUND_CONTRIBUTORS: leaves past it stay receipts only. */
export const MAX_ROUND_CONTRIBUTORS = 256;

/**
 * Leader side of round roots: once a round's receipts are signed, seal one Merkle root over them (each receipt gets
 * its leaf index and proof, which travel with the outcome), then commit the root in its epoch's commit window.
 * Contributors claim their leaves with the proofs (ContributionLedger.claimRound); a root that is never committed
 * costs nobody anything, as each contributor still holds its signed receipt.
 */
export class RoundRoots {
  constructor(
    private readonly contributions: ContributionStore,
    private readonly log: Logger,
  ) {}

  /**
   * Seals the root of `round` from the receipts this node signed for it, once. Receipts signed in one pass share
   * an epoch; should a round's receipts span two (some signed on a later pass), the latest epoch's are sealed and the
   * others stay receipts only, as do those past the first MAX_ROUND_CONTRIBUTORS (by address).
   */
  seal(chain: ChainConnection, round: number): LedRoot | undefined {
    const sealed = this.contributions.rootOf(round);
    if (sealed) return sealed;
    const signed = this.contributions.receiptsOfRound(round);
    if (signed.length === 0) return undefined;
    const epoch = signed.reduce((e, r) => (r.receipt.epoch > e ? r.receipt.epoch : e), 0n);
    const chosen = signed
      .filter((r) => r.receipt.epoch === epoch)
      .sort((a, b) => (BigInt(getAddress(a.receipt.node)) < BigInt(getAddress(b.receipt.node)) ? -1 : 1))
      .slice(0, MAX_ROUND_CONTRIBUTORS);
    const leaves: RoundLeaf[] = chosen.map((r, index) => ({
      leader: r.receipt.leader,
      epoch,
      round: r.receipt.round,
      index,
      node: r.receipt.node,
      tokens: r.receipt.tokens,
      score: r.receipt.score,
      gradientHash: r.receipt.gradientHash,
    }));
    const hashes = leaves.map((l) => roundLeafHash(l, chain.chainId, chain.d.addresses.ledger));
    const tree = buildRoundTree(hashes);
    const maxTokens = leaves.reduce((m, l) => (l.tokens > m ? l.tokens : m), 1n);
    const root = { round, epoch, root: tree.root, contributors: leaves.length, maxTokens };
    const proofs = chosen.map((r, k) => ({ nodeId: r.nodeId, leaf: { index: k, root: tree.root, proof: tree.proof(hashes[k]!) } }));
    this.contributions.sealRoot(root, proofs);
    this.log.info({ round, epoch: epoch.toString(), contributors: leaves.length, root: tree.root }, 'chain: round root sealed');
    return this.contributions.rootOf(round);
  }

  /** Commits every sealed root whose commit window is open, and gives up on those whose window has passed. */
  async commitDue(chain: ChainConnection): Promise<void> {
    for (const r of this.contributions.rootsToCommit()) await this.commitOne(chain, r);
  }

  /** One root, always from the chain's state first: a restart or an RPC failure mid-send never commits twice. */
  private async commitOne(chain: ChainConnection, r: LedRoot): Promise<void> {
    const ledger = chain.c.ledger;
    const onChain = await ledger.getFunction('roundOf')(chain.wallet.address, r.round);
    if (onChain.root !== ZeroHash) {
      if (onChain.root === r.root && (onChain.epoch as bigint) === r.epoch) this.contributions.markRoot(r.round, 'committed');
      else this.contributions.markRoot(r.round, 'failed', { lastError: `round ${r.round} holds another root of this leader on chain` });
      return;
    }
    if (r.tx) {
      const pending = await chain.provider.getTransaction(r.tx);
      if (pending && pending.blockNumber === null) return;
    }
    const [commitOpens, revealOpens] = (await ledger.getFunction('windows')(r.epoch)) as bigint[];
    const now = await chainNow(chain);
    if (now < commitOpens!) return;
    if (now >= revealOpens!) {
      this.contributions.markRoot(r.round, 'missed', {
        lastError: `the commit window of epoch ${r.epoch} closed before the root was committed; contributors claim by receipt`,
      });
      return;
    }
    const args = [r.epoch, r.round, r.root, r.contributors, r.maxTokens] as const;
    try {
      await ledger.getFunction('commitRound').staticCall(...args, { blockTag: 'pending' });
    } catch (err) {
      const reason = (err as { revert?: { name?: string; args?: unknown[] } }).revert;
      if (!reason?.name) throw err; // an RPC failure: retried next pass
      // Checked on the pending block, whose time is the chain's now; should a node's RPC still answer at an older
      // block's time, the window is not open yet there: retried, never given up (its end is checked above).
      if (reason.name === 'LedgerCommitOutsideWindow') return;
      const why = `the ledger refuses the root: ${reason.name}(${(reason.args ?? []).map(String).join(', ')})`;
      this.contributions.markRoot(r.round, 'failed', { lastError: why });
      this.log.warn({ round: r.round, reason: reason.name }, 'chain: round root refused; contributors claim by receipt');
      return;
    }
    const tx = await ledger.getFunction('commitRound')(...args);
    this.contributions.noteRootTx(r.round, tx.hash as string);
    await tx.wait();
    this.contributions.markRoot(r.round, 'committed', { tx: tx.hash as string });
    this.log.info({ round: r.round, epoch: r.epoch.toString(), tx: tx.hash }, 'chain: round root committed');
  }
}
