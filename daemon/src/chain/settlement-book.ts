import { ZeroHash, getAddress } from 'ethers';
import { creditsFromWeights, nodeCap } from './calculator.js';
import type { ChainConnection } from './connection.js';
import { LedgerEvents, before, type LogPosition } from './ledger-events.js';
import { buildRoundTree, settlementLeafHash } from './round-tree.js';

/** The pool and per-node cap a Merkle settlement of an epoch is computed on (fixed by its posting). */
export interface SettlementBasis {
  pool: bigint;
  nodeCap: bigint;
}

/** ContributionLedger.Settlement, as the ledger holds the latest posting of an epoch. */
export interface Posting {
  epoch: bigint;
  root: string;
  total: bigint;
  prevCumulative: bigint;
  settler: string;
  postedAt: bigint;
  openChallenges: number;
  voided: boolean;
  finalized: boolean;
}

/** What every node's cumulative credit is after one more epoch, as a tree: the root a settler posts. */
export interface CumulativeSettlement {
  root: string;
  /** The epoch's credit: what the root adds to the cumulative total. */
  total: bigint;
  credits: Map<string, bigint>;
  cumulative: Map<string, bigint>;
  proof(node: string): string[];
}

/** The verdict on a posting: equal to what the claims on chain give, or what differs. */
export type PostingCheck = { ok: true } | { ok: false; why: string };

const REVEALED = 2; // ContributionLedger.ClaimStatus.Revealed

/**
 * Recomputes Merkle settlements from the chain alone, so that a settler, every node checking a posting, a panelist
 * judging one and a node withdrawing by proof all get the same tree. Events are read incrementally (LedgerEvents). An epoch's credits come from its claims' weights
 * (ClaimRevealed and RoundClaimed name the claimants; `claimOf` gives each final weight once the challenge window is
 * over) and the basis its posting was made on (SettlementPosted carries the pool and cap). A node's cumulative credit
 * is the sum of its credits over every finalized epoch, as the claims give them, not as a finalized root said: a bad
 * root that slipped through is corrected by the next honest one.
 */
export class SettlementBook {
  /** Credits of finalized epochs: fixed once finalized (weights are final after the challenge window). */
  private readonly finalizedCredits = new Map<bigint, Map<string, bigint>>();
  /** Verdicts by posting (epoch, root, time): a posting, its basis and what it builds on never change. */
  private readonly verdicts = new Map<string, PostingCheck>();
  private readonly events = new LedgerEvents();

  /** The epoch's pool and cap as postSettlement computes them now (on the pending block). */
  async basis(chain: ChainConnection, epoch: bigint): Promise<SettlementBasis> {
    const { ledger, params } = chain.c;
    const tag = { blockTag: 'pending' };
    const [start] = (await ledger.getFunction('windows')(epoch, tag)) as bigint[];
    const [dailyCap, emitted, epochPool, shareBps] = (await Promise.all([
      params.getFunction('dailyCap')(tag),
      ledger.getFunction('emittedOnDay')(start! / 86_400n, tag),
      params.getFunction('epochPool')(tag),
      params.getFunction('maxRewardShareBps')(tag),
    ])) as bigint[];
    const room = dailyCap! > emitted! ? dailyCap! - emitted! : 0n;
    const pool = epochPool! < room ? epochPool! : room;
    return { pool, nodeCap: nodeCap(pool, Number(shareBps)) };
  }

  async posting(chain: ChainConnection, epoch: bigint): Promise<Posting | undefined> {
    const p = await chain.c.ledger.getFunction('settlementOf')(epoch);
    if (p.root === ZeroHash) return undefined;
    return {
      epoch,
      root: (p.root as string).toLowerCase(),
      total: p.total as bigint,
      prevCumulative: p.prevCumulative as bigint,
      settler: getAddress(p.settler as string),
      postedAt: p.postedAt as bigint,
      openChallenges: Number(p.openChallenges),
      voided: p.voided as boolean,
      finalized: p.finalized as boolean,
    };
  }

  /**
   * The claims' weights in `epoch` by node (only revealed claims weigh). Throws when the claimants found in the
   * events do not add up to the epoch's total weight on chain: nothing is computed from a partial view.
   */
  async weights(chain: ChainConnection, epoch: bigint): Promise<Map<string, bigint>> {
    const ledger = chain.c.ledger;
    await this.events.sync(chain);
    const info = await ledger.getFunction('epochInfo')(epoch);
    const weights = new Map<string, bigint>();
    let sum = 0n;
    for (const node of this.events.claimantsOf(epoch)) {
      const claim = await ledger.getFunction('claimOf')(epoch, node);
      if (Number(claim.status) !== REVEALED || (claim.weight as bigint) === 0n) continue;
      weights.set(node, claim.weight as bigint);
      sum += claim.weight as bigint;
    }
    if (sum !== (info.totalWeight as bigint)) {
      throw new Error(`the claims of epoch ${epoch} found in the ledger's events weigh ${sum}, the ledger holds ${info.totalWeight}`);
    }
    return weights;
  }

  /**
   * The cumulative credit of every node from the epochs finalized before `until` (the position of the posting a
   * cumulative root builds on), or from all of them.
   */
  async cumulative(chain: ChainConnection, until?: LogPosition): Promise<Map<string, bigint>> {
    await this.events.sync(chain);
    const sum = new Map<string, bigint>();
    for (const f of this.events.finalized()) {
      if (until && !before(f.at, until)) continue;
      let credits = this.finalizedCredits.get(f.epoch);
      if (!credits) {
        const posted = this.events.posting(f.epoch, f.root, f.at);
        if (!posted) throw new Error(`no SettlementPosted event for the finalized root of epoch ${f.epoch}`);
        credits = (await this.credits(chain, f.epoch, posted)).credits;
        this.finalizedCredits.set(f.epoch, credits);
        this.events.forget(f.epoch);
      }
      for (const [node, c] of credits) sum.set(node, (sum.get(node) ?? 0n) + c);
    }
    return sum;
  }

  /** The epoch's credits on `basis`. */
  async credits(chain: ChainConnection, epoch: bigint, basis: SettlementBasis): Promise<{ credits: Map<string, bigint>; total: bigint }> {
    return creditsFromWeights(basis.pool, basis.nodeCap, await this.weights(chain, epoch));
  }

  /**
   * The settlement of `epoch` on `basis` over the cumulative credits `prev`; undefined when no node would hold any
   * credit (the ledger takes no empty root: such an epoch settles by the claim loop, which mints nothing).
   */
  async expected(
    chain: ChainConnection,
    epoch: bigint,
    basis: SettlementBasis,
    prev: Map<string, bigint>,
  ): Promise<CumulativeSettlement | undefined> {
    const { credits, total } = await this.credits(chain, epoch, basis);
    const cumulative = new Map(prev);
    for (const [node, c] of credits) cumulative.set(node, (cumulative.get(node) ?? 0n) + c);
    if (cumulative.size === 0) return undefined;
    return { ...cumulativeTree(chain, cumulative), total, credits, cumulative };
  }

  /**
   * Checks the posting standing for `epoch` (its latest SettlementPosted event) against the claims: the root and total
   * must be those of the epoch's credits on the posted basis over the credits finalized before it was posted.
   */
  async check(chain: ChainConnection, epoch: bigint, posting: Posting): Promise<PostingCheck> {
    const key = `${epoch}:${posting.root}:${posting.postedAt}`;
    let verdict = this.verdicts.get(key);
    if (!verdict) this.verdicts.set(key, (verdict = await this.judge(chain, epoch, posting)));
    return verdict;
  }

  private async judge(chain: ChainConnection, epoch: bigint, posting: Posting): Promise<PostingCheck> {
    await this.events.sync(chain);
    const posted = this.events.posting(epoch, posting.root);
    if (!posted) return { ok: false, why: `no SettlementPosted event for root ${posting.root} of epoch ${epoch}` };
    const want = await this.expected(chain, epoch, posted, await this.cumulative(chain, posted.at));
    if (!want) return { ok: false, why: `epoch ${epoch} credits nobody, yet a root was posted` };
    if (want.total !== posting.total) return { ok: false, why: `total ${posting.total} posted, the claims give ${want.total}` };
    if (want.root !== posting.root) return { ok: false, why: `root ${posting.root} posted, the claims give ${want.root}` };
    return { ok: true };
  }

  /** What `node` was credited in `epoch`, a finalized Merkle settlement (as the claims give it). */
  async finalizedCredit(chain: ChainConnection, epoch: bigint, node: string): Promise<bigint> {
    await this.cumulative(chain);
    const credits = this.finalizedCredits.get(epoch);
    if (!credits) throw new Error(`epoch ${epoch} has no finalized settlement`);
    return credits.get(getAddress(node)) ?? 0n;
  }

  /** This node's cumulative credit and proof against the current cumulative root on chain; undefined if it has none. */
  async proofOf(chain: ChainConnection, node: string): Promise<{ cumulative: bigint; proof: string[] } | undefined> {
    const onChain = ((await chain.c.ledger.getFunction('cumulativeRoot')()) as string).toLowerCase();
    if (onChain === ZeroHash) return undefined;
    const cumulative = await this.cumulative(chain);
    const mine = cumulative.get(getAddress(node));
    if (!mine) return undefined;
    const tree = cumulativeTree(chain, cumulative);
    if (tree.root !== onChain) {
      throw new Error(
        `the cumulative root on chain (${onChain}) is not the one the finalized epochs' claims give (${tree.root}); ` +
          'a settlement that credits what the claims do not was finalized unchallenged, and the next honest one corrects it',
      );
    }
    return { cumulative: mine, proof: tree.proof(node) };
  }
}

/** The tree of cumulative credits, leaves as ContributionLedger.settlementLeaf. */
function cumulativeTree(chain: ChainConnection, cumulative: Map<string, bigint>): { root: string; proof(node: string): string[] } {
  const ledger = chain.d.addresses.ledger;
  const leafOf = (node: string) => settlementLeafHash(node, cumulative.get(getAddress(node)) ?? 0n, chain.chainId, ledger);
  const tree = buildRoundTree([...cumulative.keys()].map(leafOf));
  return { root: tree.root, proof: (node) => tree.proof(leafOf(node)) };
}
