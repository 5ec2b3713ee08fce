import { parseEther, type Wallet } from 'ethers';
import type { StateDb } from '../db/database.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import { DEFAULT_BUILD_DIR, ensureArtifacts } from './artifacts.js';
import { ClaimDriver } from './claim-driver.js';
import { ClaimQueue, ContributionStore } from './claim-store.js';
import { EpochSettler } from './epoch-settler.js';
import { type ChainConnection, nodeIdBytes8 } from './connection.js';
import { attach, readDeployment, type ChainContracts } from './deploy.js';
import { type LeaderReceipt, LeaderReceipts, type SubmissionBook } from './leader-receipts.js';
import { RoundRoots } from './round-roots.js';
import type { ChainOptions } from './options.js';
import { makeProvider } from './provider.js';
import type { Receipt } from './receipt.js';
import { readRewards } from './rewards-query.js';
import type { RewardsView } from './rewards-view.js';
import { SettlementBook } from './settlement-book.js';
import { SettlementWatch } from './settlement-watch.js';
import { type Withdrawal, withdrawAll } from './withdrawals.js';

export interface ChainPartDeps {
  options: ChainOptions;
  db: StateDb;
  identity: NodeIdentity;
  log: Logger;
  /** Tier index declared at self-registration (TIERS order); needed only with options.registerBond. */
  tierIndex?: number;
  buildDir?: string;
  /** The node's shutdown signal: once it aborts, no claim step starts and no pass is scheduled (the one running ends). */
  signal?: AbortSignal;
  /** This node's gradient submissions by round: receipts from round outcomes must match one (see SubmissionBook). */
  submissions?: SubmissionBook;
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
  private chain: ChainConnection | undefined;
  private readonly receipts: LeaderReceipts;
  private readonly driver: ClaimDriver;
  private readonly roots: RoundRoots;
  private readonly book = new SettlementBook();
  private readonly watch: SettlementWatch;
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
    this.roots = new RoundRoots(this.contributions, deps.log);
    this.receipts = new LeaderReceipts(
      this.contributions,
      this.claims,
      deps.identity,
      deps.log,
      () => this.chain,
      deps.submissions,
      this.roots,
    );
    const settler = new EpochSettler(this.book, deps.options.settlement, deps.options.settleBatch, deps.log);
    this.driver = new ClaimDriver(this.claims, settler, deps.log);
    this.watch = new SettlementWatch(this.book, deps.options.notaryBond, deps.log);
  }

  get configured(): boolean {
    return this.deps.options.rpc !== '' && this.deps.options.deployment !== '';
  }

  /** Whether the chain link is up now (configured, started and attached). */
  get connected(): boolean {
    return this.chain !== undefined;
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
        if (this.chain && !this.deps.signal?.aborted) this.timer = setTimeout(loop, o.pollMs);
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
      await this.receipts.signAsLeader(chain);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = `leader signing: ${errorMessage(err)}`;
      this.deps.log.warn({ err: errorMessage(err) }, 'chain: signing receipts as leader failed; retrying next tick');
    }
    try {
      await this.roots.commitDue(chain);
    } catch (err) {
      this.lastError = `round roots: ${errorMessage(err)}`;
      this.deps.log.warn({ err: errorMessage(err) }, 'chain: committing round roots failed; retrying next tick');
    }
    try {
      await this.watch.pass(chain);
    } catch (err) {
      this.lastError = `settlement watch: ${errorMessage(err)}`;
      this.deps.log.warn({ err: errorMessage(err) }, 'chain: checking settlements failed; retrying next tick');
    }
    for (const claim of this.claims.due()) {
      if (!this.chain || this.deps.signal?.aborted) return;
      try {
        await this.driver.drive(chain, claim);
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
   * Contributor side: queues a claim from a receipt its round leader signed, handed in by the operator (the admin
   * API); see LeaderReceipts.acceptReceipt. Receipts from peers come through acceptLeaderReceipts.
   */
  acceptReceipt(
    round: number,
    receipt: Receipt,
    leaderSignature: string,
    target?: { chainId: bigint; ledger: string },
  ): Promise<{ queued: boolean; digest: string }> {
    return this.receipts.acceptReceipt(round, receipt, leaderSignature, target);
  }

  /** Leader side, for the round outcome: the receipts this node signed for `round` and the rounds it led before. */
  leaderReceipts(round: number): Promise<LeaderReceipt[]> {
    return this.receipts.leaderReceipts(round);
  }

  /** Leader side for trials (research): the receipts this node signed for these rounds, signing what is pending first. */
  receiptsOfRounds(rounds: readonly number[]): Promise<LeaderReceipt[]> {
    return this.receipts.receiptsOfRounds(rounds);
  }

  /** Contributor side, from a round outcome: queues the receipts addressed to this node. */
  acceptLeaderReceipts(list: readonly LeaderReceipt[]): Promise<number> {
    return this.receipts.acceptLeaderReceipts(list);
  }

  /** Owed and withdrawn amounts on chain plus estimates for revealed, unsettled claims. */
  rewards(): Promise<RewardsView> {
    return readRewards(this.chain, this.claims, this.deps.identity.address, this.book);
  }

  /** Withdraws every reward of this node: owed by the claim loop, and its cumulative credit by Merkle proof. */
  withdraw(): Promise<Withdrawal> {
    if (!this.chain) throw new MagnetError('ERR_CHAIN_NOT_CONFIGURED', 'the chain part is not running');
    return withdrawAll(this.chain, this.book);
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
