import { ZeroHash, getAddress, hexlify, parseEther, randomBytes, type JsonRpcProvider, type Wallet } from 'ethers';
import type { StateDb } from '../db/database.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import { DEFAULT_BUILD_DIR, ensureArtifacts } from './artifacts.js';
import { estimateReward } from './calculator.js';
import { ClaimQueue, ContributionStore, receiptFromJson, receiptToJson, type ClaimRow } from './claim-store.js';
import { attach, readDeployment, type ChainContracts, type Deployment } from './deploy.js';
import type { ChainOptions } from './options.js';
import { makeProvider } from './provider.js';
import type { RewardsView } from './rewards-view.js';
import { MAX_SCORE, commitment, receiptDigest, receiptSigner, receiptTuple, signReceipt, type Receipt } from './receipt.js';

/** How many earlier led rounds' receipts a leader sends again with each outcome (a few hundred bytes each). */
const RESEND_LED_ROUNDS = 4;

/** ContributionLedger.ClaimStatus. */
const ON_CHAIN = ['none', 'committed', 'revealed', 'voided', 'noshow', 'paid'] as const;

export interface ChainPartDeps {
  options: ChainOptions;
  db: StateDb;
  identity: NodeIdentity;
  log: Logger;
  /** Tier index declared at self-registration (TIERS order); needed only with options.registerBond. */
  tierIndex?: number;
  buildDir?: string;
}

/** A contribution's quality score in parts per million: the verified loss improvement, at least 1 when accepted. */
export function scoreOf(lossDelta: number, verified: boolean): bigint {
  if (!verified) return 0n;
  const ppm = Math.round((Number.isFinite(lossDelta) ? lossDelta : 0) * 1e6);
  return BigInt(Math.min(Number(MAX_SCORE), Math.max(1, ppm)));
}

/** "node-<16 hex>" as the registry's bytes8 key. */
export function nodeIdBytes8(nodeId: string): string {
  return '0x' + nodeId.slice('node-'.length);
}

/**
 * The chain part. Leader side: accepted gradients become contribution records (always, even with no chain) and,
 * once a chain is configured, leader-signed receipts for their contributors. Contributor side: a leader-signed
 * receipt becomes a claim in the SQLite queue; the loop signs, commits, reveals inside the windows, settles after
 * the challenge window and records the reward. Every step first reads the claim's on-chain state, so a restart or
 * an RPC failure mid-submission never submits twice and never loses a claim.
 */
export class ChainPart implements Startable {
  readonly contributions: ContributionStore;
  readonly claims: ClaimQueue;
  private chain: { provider: JsonRpcProvider; wallet: Wallet; c: ChainContracts; d: Deployment; chainId: bigint } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private pass: Promise<void> | undefined;
  private lastError: string | undefined;
  private lastTickAt = 0;
  private registered = false;
  private registrationError: string | undefined;

  constructor(private readonly deps: ChainPartDeps) {
    this.contributions = new ContributionStore(deps.db);
    this.claims = new ClaimQueue(deps.db);
  }

  get configured(): boolean {
    return this.deps.options.rpc !== '' && this.deps.options.deployment !== '';
  }

  async start(): Promise<void> {
    if (this.timer || this.chain) return;
    const o = this.deps.options;
    if (!this.configured) {
      this.deps.log.info(
        { rpc: o.rpc || null, deployment: o.deployment || null },
        'chain not configured (set MAGNET_CHAIN_RPC and MAGNET_CHAIN_DEPLOYMENT): contributions are recorded and claims wait in the queue',
      );
      return;
    }
    const d = readDeployment(o.deployment);
    await ensureArtifacts(this.deps.buildDir ?? DEFAULT_BUILD_DIR);
    const chainId = BigInt(d.chainId);
    const provider = makeProvider(o.rpc, chainId);
    const wallet = this.deps.identity.wallet.connect(provider) as Wallet;
    this.chain = { provider, wallet, c: attach(d, wallet, this.deps.buildDir ?? DEFAULT_BUILD_DIR), d, chainId };
    this.deps.log.info({ rpc: o.rpc, chainId: d.chainId, ledger: d.addresses.ledger, address: wallet.address }, 'chain part started');
    const loop = () => {
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        if (this.chain) this.timer = setTimeout(loop, o.pollMs);
      });
    };
    this.timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const chain = this.chain;
    this.chain = undefined;
    await this.ticking?.catch(() => undefined);
    chain?.provider.destroy();
  }

  /** Registers this node (wallet, nodeId, key, tier) with `bond` unless it already is. */
  private async selfRegister(bond: string): Promise<boolean> {
    const chain = this.chain;
    if (!chain) return false;
    if (await chain.c.registry.getFunction('isRegistered')(chain.wallet.address)) return true;
    const value = parseEther(bond);
    const tier = this.deps.tierIndex ?? 3;
    const tx = await chain.c.registry.getFunction('register')(
      '0x' + chain.wallet.signingKey.publicKey.slice(4),
      nodeIdBytes8(this.deps.identity.nodeId),
      tier,
      { value },
    );
    await tx.wait();
    this.deps.log.info({ nodeId: this.deps.identity.nodeId, tier, bond, tx: tx.hash }, 'chain: node registered');
    return true;
  }

  /** One pass: sign receipts as leader, then drive every due claim one step. Errors never escape; passes never overlap. */
  async tick(): Promise<void> {
    while (this.pass) await this.pass;
    this.pass = this.runPass().finally(() => (this.pass = undefined));
    return this.pass;
  }

  private async runPass(): Promise<void> {
    const chain = this.chain;
    if (!chain) return;
    this.lastTickAt = Date.now();
    if (this.deps.options.registerBond && !this.registered) {
      // Retried every pass: a testnet funds node wallets only after the nodes started.
      this.registered = await this.selfRegister(this.deps.options.registerBond).catch((err) => {
        this.registrationError = errorMessage(err);
        return false;
      });
    }
    try {
      await this.signAsLeader(chain);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = `leader signing: ${errorMessage(err)}`;
      this.deps.log.warn({ err: errorMessage(err) }, 'chain: signing receipts as leader failed; retrying next tick');
    }
    for (const claim of this.claims.due()) {
      if (!this.chain) return;
      try {
        await this.drive(chain, claim);
      } catch (err) {
        const delay = Math.min(this.deps.options.retryMaxMs, this.deps.options.retryBaseMs * 2 ** Math.min(claim.attempts, 20));
        this.claims.retryLater(claim.digest, errorMessage(err), delay);
        this.lastError = `claim ${claim.digest.slice(0, 10)}: ${errorMessage(err)}`;
        this.deps.log.warn(
          { epoch: claim.epoch.toString(), round: claim.round, state: claim.state, retryInMs: delay, err: errorMessage(err) },
          'chain: claim step failed; it stays queued',
        );
      }
    }
  }

  /**
   * Contributor side: queues a claim from a receipt its round leader signed. Refuses a receipt for another node,
   * a leader signature that does not match, or a score over the cap. Idempotent per receipt.
   */
  async acceptReceipt(
    round: number,
    receipt: Receipt,
    leaderSignature: string,
    target?: { chainId: bigint; ledger: string },
  ): Promise<{ queued: boolean; digest: string }> {
    const t = target ?? (this.chain ? { chainId: this.chain.chainId, ledger: this.chain.d.addresses.ledger } : undefined);
    if (!t)
      throw new MagnetError(
        'ERR_CHAIN_NOT_CONFIGURED',
        'no chain configured: cannot check a receipt against a ledger (set MAGNET_CHAIN_RPC and MAGNET_CHAIN_DEPLOYMENT)',
      );
    const me = this.deps.identity.address;
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
    const digest = receiptDigest(receipt, t.chainId, t.ledger);
    const nodeSignature = await signReceipt(this.deps.identity.wallet, receipt, t.chainId, t.ledger);
    const queued = this.claims.add({ digest, round, receipt, nonce: hexlify(randomBytes(32)), nodeSignature, leaderSignature });
    if (queued) this.deps.log.info({ round, epoch: receipt.epoch.toString(), digest }, 'chain: claim queued');
    return { queued, digest };
  }

  /**
   * Leader side, for the round outcome: signs what is pending now, then returns the receipts this node signed for
   * `round` and for the RESEND_LED_ROUNDS rounds it led before, JSON-safe. A receipt signed late (the chain was down
   * when this node led, or the contributor registered afterwards) so reaches its contributor the next time this node leads;
   * contributors queue each receipt once. Empty with no chain configured. DiLoCo sends these to the contributors.
   */
  async leaderReceipts(
    round: number,
  ): Promise<{ nodeId: string; round: number; receipt: Record<string, string>; leaderSignature: string }[]> {
    const chain = this.chain;
    if (!chain) return [];
    await this.signAsLeader(chain).catch((err) =>
      this.deps.log.warn({ err: errorMessage(err) }, 'chain: signing receipts as leader failed'),
    );
    return this.contributions.receiptsOfLedRounds(round, RESEND_LED_ROUNDS).map((r) => ({
      nodeId: r.nodeId,
      round: r.round,
      receipt: JSON.parse(receiptToJson(r.receipt)) as Record<string, string>,
      leaderSignature: r.leaderSignature,
    }));
  }

  /** Contributor side, from a round outcome: queues the receipts addressed to this node; bad ones are logged and skipped. */
  async acceptLeaderReceipts(
    list: readonly { nodeId: string; round: number; receipt: Record<string, string>; leaderSignature: string }[],
  ): Promise<number> {
    let queued = 0;
    for (const r of list) {
      if (r.nodeId !== this.deps.identity.nodeId) continue;
      try {
        if ((await this.acceptReceipt(r.round, receiptFromJson(JSON.stringify(r.receipt)), r.leaderSignature)).queued) queued++;
      } catch (err) {
        this.deps.log.warn({ round: r.round, err: errorMessage(err) }, 'chain: refused a receipt from the round outcome');
      }
    }
    return queued;
  }

  /** Leader side: a signed receipt for each recorded contribution of a registered node other than this one. */
  private async signAsLeader(chain: NonNullable<ChainPart['chain']>): Promise<void> {
    const pending = this.contributions.unsigned();
    if (pending.length === 0) return;
    if (!(await chain.c.registry.getFunction('isRegistered')(chain.wallet.address))) {
      for (const p of pending)
        if (p.state !== 'unregistered')
          this.contributions.mark(p.round, p.nodeId, 'unregistered', 'this leader is not registered on chain');
      return;
    }
    const epoch = await this.signingEpoch(chain);
    for (const p of pending) {
      if (p.nodeId === this.deps.identity.nodeId) {
        this.contributions.mark(p.round, p.nodeId, 'self', 'a leader cannot sign its own receipt');
        continue;
      }
      const owner = getAddress((await chain.c.registry.getFunction('ownerOf')(nodeIdBytes8(p.nodeId))) as string);
      if (owner === getAddress('0x' + '00'.repeat(20))) {
        this.contributions.mark(p.round, p.nodeId, 'unregistered', 'contributor not registered on chain yet');
        continue;
      }
      const r: Receipt = {
        node: owner,
        epoch,
        round: BigInt(p.round),
        checkpointHash: ZeroHash, // the contribution record does not carry the base checkpoint hash
        gradientHash: '0x' + p.gradientSha256,
        tokens: BigInt(p.tokens),
        score: scoreOf(p.lossDelta, p.verified),
        leader: chain.wallet.address,
      };
      const sig = await signReceipt(this.deps.identity.wallet, r, chain.chainId, chain.d.addresses.ledger);
      this.contributions.saveLeaderReceipt(p.round, p.nodeId, r, sig);
    }
  }

  /** The epoch whose commit window is open now, or the next one when less than a quarter of the window is left. */
  private async signingEpoch(chain: NonNullable<ChainPart['chain']>): Promise<bigint> {
    const now = await this.chainNow(chain);
    const e = (await chain.c.params.getFunction('epochAt')(now)) as bigint;
    const [opens, closes] = (await chain.c.ledger.getFunction('windows')(e)) as bigint[];
    return closes! - now < (closes! - opens!) / 4n ? e + 1n : e;
  }

  /** Chain time: the later of the latest block and the wall clock (a local chain mines only on demand). */
  private async chainNow(chain: NonNullable<ChainPart['chain']>): Promise<bigint> {
    const b = await chain.provider.getBlock('latest');
    return BigInt(Math.max(b?.timestamp ?? 0, Math.floor(Date.now() / 1000)));
  }

  /** Moves one claim one step, always from its on-chain state first. */
  private async drive(chain: NonNullable<ChainPart['chain']>, claim: ClaimRow): Promise<void> {
    const { c, wallet } = chain;
    const on = await c.ledger.getFunction('claimOf')(claim.epoch, wallet.address);
    const status = ON_CHAIN[Number(on.status)] ?? 'none';
    const mine = commitment(claim.receipt, claim.nonce, wallet.address, chain.chainId, chain.d.addresses.ledger, claim.epoch);
    const [, revealOpens, revealCloses, challengeCloses] = (await c.ledger.getFunction('windows')(claim.epoch)) as bigint[];
    const now = await this.chainNow(chain);
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
      const tx = await c.ledger.getFunction('commit')(claim.epoch, mine);
      this.claims.noteTx(claim.digest, 'commit', tx.hash as string);
      await tx.wait();
      this.deps.log.info({ epoch: claim.epoch.toString(), round: claim.round, tx: tx.hash }, 'chain: claim committed');
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
      this.deps.log.info({ epoch: claim.epoch.toString(), round: claim.round, tx: tx.hash }, 'chain: claim revealed');
      return this.claims.advance(claim.digest, 'revealed', { revealTx: tx.hash as string });
    }
    // revealed: settle once the challenge window is over (anyone may; settling is idempotent per batch).
    if (claim.state !== 'revealed') this.claims.advance(claim.digest, 'revealed');
    if (now < challengeCloses!) return;
    const info = await c.ledger.getFunction('epochInfo')(claim.epoch);
    if (info.openChallenges > 0n) return;
    if (!info.settled) {
      const tx = await c.ledger.getFunction('settle')(claim.epoch, this.deps.options.settleBatch);
      await tx.wait();
    }
    const after = await c.ledger.getFunction('claimOf')(claim.epoch, wallet.address);
    if (ON_CHAIN[Number(after.status)] === 'paid') {
      this.deps.log.info(
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
  private async reslot(chain: NonNullable<ChainPart['chain']>, claim: ClaimRow, now: bigint, why: string): Promise<void> {
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
    this.deps.log.info(
      { round: claim.round, from: claim.epoch.toString(), to: next.toString(), why },
      'chain: claim moved to a later epoch',
    );
  }

  /** True when `hash` is a transaction the node still holds unmined (a slow chain after an RPC failure). */
  private async stillPending(chain: NonNullable<ChainPart['chain']>, hash: string | null): Promise<boolean> {
    if (!hash) return false;
    const tx = await chain.provider.getTransaction(hash);
    return tx !== null && tx.blockNumber === null;
  }

  /** Owed and withdrawn amounts on chain plus estimates for revealed, unsettled claims. */
  async rewards(): Promise<RewardsView> {
    const chain = this.chain;
    const rows = this.claims.all();
    if (!chain) {
      return {
        configured: false,
        address: this.deps.identity.address,
        owed: null,
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
    const [owed, bal, epochPool, dailyCap] = (await Promise.all([
      c.ledger.getFunction('owed')(wallet.address),
      c.token.getFunction('balanceOf')(wallet.address),
      c.params.getFunction('epochPool')(),
      c.params.getFunction('dailyCap')(),
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
    return { configured: true, address: wallet.address, owed: owed!.toString(), tokenBalance: bal!.toString(), claims: out };
  }

  /** For /status. */
  status(): Record<string, unknown> {
    const claims = this.claims.counts();
    return {
      configured: this.configured,
      state: this.chain ? 'running' : this.configured ? 'stopped' : 'not configured: claims wait in the queue',
      chainId: this.chain?.d.chainId ?? null,
      ledger: this.chain?.d.addresses.ledger ?? null,
      address: this.deps.identity.address,
      contributions: this.contributions.count(),
      claims,
      waiting: (claims.queued ?? 0) + (claims.committed ?? 0) + (claims.revealed ?? 0),
      lastTickAt: this.lastTickAt || null,
      lastError: this.lastError ?? null,
      selfRegistration: !this.deps.options.registerBond
        ? 'off'
        : this.registered
          ? 'registered'
          : `pending: ${this.registrationError ?? 'not tried yet'}`,
    };
  }

  /** Contracts as this node's wallet (CLI helpers and tests). */
  contracts(): ChainContracts | undefined {
    return this.chain?.c;
  }
}
