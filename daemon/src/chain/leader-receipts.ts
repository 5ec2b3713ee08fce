import { ZeroHash, getAddress, hexlify, randomBytes } from 'ethers';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import type { ClaimQueue, ContributionRow, ContributionStore, LeafProof } from './claim-store.js';
import { type ChainConnection, chainNow, nodeIdBytes8, nodeIdFromBytes8 } from './connection.js';
import { MAX_SCORE, receiptDigest, receiptSigner, signReceipt, type Receipt } from './receipt.js';
import type { RoundRoots } from './round-roots.js';
import { rootFromProof, roundLeafHash } from './round-tree.js';

/** How many earlier led rounds' receipts a leader sends again with each outcome (a few hundred bytes each). */
const RESEND_LED_ROUNDS = 4;

/**
 * What this node sent as a contributor, as the rounds recorded it: for `round`, the hash of the gradient it
 * submitted and the nodeIds of the leaders it submitted to. A receipt that arrives with a round outcome must match
 * one of these: otherwise any registered node could hand this node receipts of no worth that take its one claim
 * per epoch (the ledger holds one claim per node and epoch) and push its real ones back.
 */
export interface SubmissionBook {
  /** `leader`: the receipt's signer, as the registry names it (rounds that are another node's own, like trials, need it). */
  submitted(round: number, leader?: string): { gradientSha256: string; leaders: readonly string[] } | undefined;
}

/** A receipt a leader signed, for whom (the contributor's nodeId) and which round. */
export interface LeaderReceipt {
  nodeId: string;
  round: number;
  receipt: Receipt;
  leaderSignature: string;
  /** The receipt's leaf in the root the leader sealed for the round, when it sealed one. */
  leaf?: LeafProof;
}

/** A contribution's quality score in parts per million: the verified loss improvement, at least 1 when accepted. */
export function scoreOf(lossDelta: number, verified: boolean): bigint {
  if (!verified) return 0n;
  const ppm = Math.round((Number.isFinite(lossDelta) ? lossDelta : 0) * 1e6);
  return BigInt(Math.min(Number(MAX_SCORE), Math.max(1, ppm)));
}

/**
 * Leader-signed contribution receipts, both ways. Leader side: each recorded contribution of a registered node
 * becomes a receipt signed with this node's wallet, sent with the round outcome. Contributor side: a receipt its
 * round leader signed, checked, becomes a claim in the queue.
 */
export class LeaderReceipts {
  constructor(
    private readonly contributions: ContributionStore,
    private readonly claims: ClaimQueue,
    private readonly identity: NodeIdentity,
    private readonly log: Logger,
    /** The chain link while the part runs (undefined with no chain configured, or stopped). */
    private readonly connection: () => ChainConnection | undefined,
    /** This node's own submissions; without one, receipts from round outcomes are refused. */
    private readonly submissions: SubmissionBook | undefined,
    private readonly roots: RoundRoots,
  ) {}

  /**
   * Contributor side: queues a claim from a receipt its round leader signed. Refuses a receipt for another node,
   * a leader signature that does not match, a score over the cap and, with the chain up, a leader that is this node
   * or is not registered. `fromOutcome`: the receipt came from a peer, so it must also match a gradient this node
   * submitted to that leader for that round (an operator's receipt through the admin API is vouched for by the
   * operator). Idempotent per receipt. Before the claim is committed, ClaimDriver runs every reveal check by eth_call.
   * A `leaf` that does not prove this receipt into its root is dropped (the receipt still queues).
   */
  async acceptReceipt(
    round: number,
    receipt: Receipt,
    leaderSignature: string,
    target?: { chainId: bigint; ledger: string },
    fromOutcome = false,
    leaf?: LeafProof,
  ): Promise<{ queued: boolean; digest: string }> {
    const chain = this.connection();
    const t = target ?? (chain ? { chainId: chain.chainId, ledger: chain.d.addresses.ledger } : undefined);
    if (!t)
      throw new MagnetError(
        'ERR_CHAIN_NOT_CONFIGURED',
        'no chain configured: cannot check a receipt against a ledger (set MAGNET_CHAIN_RPC and MAGNET_CHAIN_DEPLOYMENT)',
      );
    const me = this.identity.address;
    if (getAddress(receipt.node) !== me) throw new MagnetError('ERR_CHAIN_RECEIPT', `receipt is for ${receipt.node}, this node is ${me}`);
    if (receipt.score > MAX_SCORE)
      throw new MagnetError('ERR_CHAIN_RECEIPT', `receipt score ${receipt.score} is over the cap ${MAX_SCORE}`);
    let signer: string;
    try {
      signer = receiptSigner(receipt, leaderSignature, t.chainId, t.ledger);
    } catch (err) {
      throw new MagnetError('ERR_CHAIN_RECEIPT', `leader signature is malformed: ${errorMessage(err)}`);
    }
    if (signer !== getAddress(receipt.leader))
      throw new MagnetError('ERR_CHAIN_RECEIPT', `leader signature is by ${signer}, not by the receipt's leader ${receipt.leader}`);
    if (signer === me) throw new MagnetError('ERR_CHAIN_RECEIPT', `receipt is signed by this node itself as its leader`);
    const leaderNodeId = chain ? await this.registeredNodeId(chain, signer) : undefined;
    if (chain && !leaderNodeId)
      throw new MagnetError('ERR_CHAIN_RECEIPT', `receipt leader ${signer} is not registered on chain: nobody bonded that key`);
    if (fromOutcome) this.checkSubmitted(round, receipt, leaderNodeId);
    const digest = receiptDigest(receipt, t.chainId, t.ledger);
    const nodeSignature = await signReceipt(this.identity.wallet, receipt, t.chainId, t.ledger);
    const proven = leaf ? this.checkLeaf(receipt, leaf, t) : undefined;
    const queued = this.claims.add({
      digest,
      round,
      receipt,
      nonce: hexlify(randomBytes(32)),
      nodeSignature,
      leaderSignature,
      leaf: proven,
    });
    if (queued) this.log.info({ round, epoch: receipt.epoch.toString(), digest, byRoot: proven !== undefined }, 'chain: claim queued');
    return { queued, digest };
  }

  /** The leaf if its proof takes this receipt to the root it names; otherwise undefined (logged): claimed by receipt. */
  private checkLeaf(receipt: Receipt, leaf: LeafProof, t: { chainId: bigint; ledger: string }): LeafProof | undefined {
    const hash = roundLeafHash({ ...receipt, index: leaf.index }, t.chainId, t.ledger);
    if (rootFromProof(hash, leaf.proof) === leaf.root.toLowerCase()) return leaf;
    this.log.warn(
      { round: receipt.round.toString(), root: leaf.root },
      'chain: a receipt came with a leaf that does not prove it; claimed by receipt',
    );
    return undefined;
  }

  /**
   * Leader side, for the round outcome: signs what is pending now, then returns the receipts this node signed for
   * `round` and for the RESEND_LED_ROUNDS rounds it led before. A receipt signed late (the chain was down
   * when this node led, or the contributor registered afterwards) so reaches its contributor the next time this node leads;
   * contributors queue each receipt once. Empty with no chain configured. DiLoCo sends these to the contributors.
   */
  async leaderReceipts(round: number): Promise<LeaderReceipt[]> {
    const chain = this.connection();
    if (!chain) return [];
    await this.signAsLeader(chain).catch((err) => this.log.warn({ err: errorMessage(err) }, 'chain: signing receipts as leader failed'));
    try {
      this.roots.seal(chain, round);
    } catch (err) {
      this.log.warn({ round, err: errorMessage(err) }, 'chain: sealing the round root failed; receipts go without leaves');
    }
    const usable = new Map<number, boolean>();
    const rootUsable = (r: number) => {
      if (!usable.has(r)) usable.set(r, ['sealed', 'committed'].includes(this.contributions.rootOf(r)?.state ?? ''));
      return usable.get(r)!;
    };
    return this.contributions.receiptsOfLedRounds(round, RESEND_LED_ROUNDS).map((r) => ({
      nodeId: r.nodeId,
      round: r.round,
      receipt: r.receipt,
      leaderSignature: r.leaderSignature,
      ...(r.leaf && rootUsable(r.round) ? { leaf: r.leaf } : {}),
    }));
  }

  /**
   * Leader side, for rounds of another kind (a research node's trials): signs what is pending, then returns the
   * receipts this node signed for these rounds. Empty with no chain configured.
   */
  async receiptsOfRounds(rounds: readonly number[]): Promise<LeaderReceipt[]> {
    const chain = this.connection();
    if (!chain) return [];
    await this.signAsLeader(chain).catch((err) => this.log.warn({ err: errorMessage(err) }, 'chain: signing receipts as leader failed'));
    return rounds.flatMap((round) =>
      this.contributions
        .receiptsOfRound(round)
        .map((r) => ({ nodeId: r.nodeId, round: r.round, receipt: r.receipt, leaderSignature: r.leaderSignature })),
    );
  }

  /** The nodeId the registry holds for `address`, or undefined when the address is not registered. */
  private async registeredNodeId(chain: ChainConnection, address: string): Promise<string | undefined> {
    const n = await chain.c.registry.getFunction('nodeOf')(address);
    return n.registered ? nodeIdFromBytes8(n.nodeId as string) : undefined;
  }

  /** A receipt from a peer must be for a gradient this node submitted, in that round, to that leader. */
  private checkSubmitted(round: number, receipt: Receipt, leaderNodeId: string | undefined): void {
    const mine = this.submissions?.submitted(round, leaderNodeId);
    if (!mine || BigInt(round) !== receipt.round)
      throw new MagnetError('ERR_CHAIN_RECEIPT', `this node submitted no gradient in round ${receipt.round}`);
    if (receipt.gradientHash.toLowerCase() !== `0x${mine.gradientSha256}`)
      throw new MagnetError(
        'ERR_CHAIN_RECEIPT',
        `receipt is for gradient ${receipt.gradientHash}, this node submitted ${mine.gradientSha256} in round ${round}`,
      );
    if (leaderNodeId && !mine.leaders.includes(leaderNodeId))
      throw new MagnetError(
        'ERR_CHAIN_RECEIPT',
        `receipt is signed by ${leaderNodeId}, this node submitted round ${round} to ${mine.leaders.join(', ') || 'no leader'}`,
      );
  }

  /** Contributor side, from a round outcome: queues the receipts addressed to this node; bad ones are logged and skipped. */
  async acceptLeaderReceipts(list: readonly LeaderReceipt[]): Promise<number> {
    let queued = 0;
    for (const r of list) {
      if (r.nodeId !== this.identity.nodeId) continue;
      try {
        if ((await this.acceptReceipt(r.round, r.receipt, r.leaderSignature, undefined, true, r.leaf)).queued) queued++;
      } catch (err) {
        this.log.warn({ round: r.round, err: errorMessage(err) }, 'chain: refused a receipt from the round outcome');
      }
    }
    return queued;
  }

  /** Leader side: a signed receipt for each recorded contribution of a registered node other than this one. */
  async signAsLeader(chain: ChainConnection): Promise<void> {
    const pending = this.contributions.unsigned();
    if (pending.length === 0) return;
    if (!(await chain.c.registry.getFunction('isRegistered')(chain.wallet.address))) {
      for (const p of pending)
        if (p.state !== 'unregistered')
          this.contributions.mark(p.round, p.nodeId, 'unregistered', 'this leader is not registered on chain');
      return;
    }
    const epoch = await this.signingEpoch(chain);
    const tokenCap = (await chain.c.params.getFunction('maxTokensPerClaim')()) as bigint;
    for (const p of pending) {
      if (p.nodeId === this.identity.nodeId) {
        this.contributions.mark(p.round, p.nodeId, 'self', 'a leader cannot sign its own receipt');
        continue;
      }
      // One bad record must not stop every other receipt: a record no receipt can carry is marked, and the loop
      // goes on. An RPC failure is not the record's fault: it ends the pass, and the next pass retries.
      const invalid = uncarriable(p, tokenCap);
      if (invalid) {
        this.contributions.mark(p.round, p.nodeId, 'invalid', invalid);
        this.log.warn({ round: p.round, nodeId: p.nodeId, why: invalid }, 'chain: contribution cannot be signed; skipped');
        continue;
      }
      await this.signOne(chain, p, epoch);
    }
  }

  /** Signs the receipt of one (carriable) contribution, or marks it unregistered. */
  private async signOne(chain: ChainConnection, p: ContributionRow, epoch: bigint): Promise<void> {
    const tokens = BigInt(p.tokens);
    const owner = getAddress((await chain.c.registry.getFunction('ownerOf')(nodeIdBytes8(p.nodeId))) as string);
    if (owner === getAddress('0x' + '00'.repeat(20))) {
      this.contributions.mark(p.round, p.nodeId, 'unregistered', 'contributor not registered on chain yet');
      return;
    }
    const r: Receipt = {
      node: owner,
      epoch,
      round: BigInt(p.round),
      checkpointHash: ZeroHash, // the contribution record does not carry the base checkpoint hash
      gradientHash: '0x' + p.gradientSha256,
      tokens,
      score: scoreOf(p.lossDelta, p.verified),
      leader: chain.wallet.address,
    };
    const sig = await signReceipt(this.identity.wallet, r, chain.chainId, chain.d.addresses.ledger);
    this.contributions.saveLeaderReceipt(p.round, p.nodeId, r, sig);
  }

  /** The epoch whose commit window is open now, or the next one when less than a quarter of the window is left. */
  private async signingEpoch(chain: ChainConnection): Promise<bigint> {
    const now = await chainNow(chain);
    const e = (await chain.c.params.getFunction('epochAt')(now)) as bigint;
    const [opens, closes] = (await chain.c.ledger.getFunction('windows')(e)) as bigint[];
    return closes! - now < (closes! - opens!) / 4n ? e + 1n : e;
  }
}

/** Why no receipt can carry contribution `p` (a bytes32 hash and uint64 tokens under the ledger's cap), or undefined. */
function uncarriable(p: ContributionRow, tokenCap: bigint): string | undefined {
  if (!/^[0-9a-f]{64}$/.test(p.gradientSha256)) return `gradient hash ${JSON.stringify(p.gradientSha256)} is not 32 bytes of hex`;
  if (!Number.isSafeInteger(p.tokens) || p.tokens < 0) return `tokens ${p.tokens} is not a whole number`;
  if (BigInt(p.tokens) > tokenCap) return `${p.tokens} tokens is over the ledger's cap of ${tokenCap} per claim`;
  return undefined;
}
