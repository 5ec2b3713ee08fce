import { getAddress, parseEther } from 'ethers';
import type { Logger } from '../log/logger.js';
import { type ChainConnection, chainNow } from './connection.js';
import { readLogs } from './ledger-events.js';
import type { SettlementBook } from './settlement-book.js';

const KIND_SETTLEMENT = 4n; // INotaryPanel.Kind.Settlement
const STATUS = { open: 1n, upheld: 2n, appealed: 5n } as const; // INotaryPanel.Status

type Revert = { revert?: { name?: string; args?: unknown[] } };

/**
 * Every node checks each Merkle settlement posted while it is open, against what the claims on chain give (the
 * same recomputation as the settler's, see SettlementBook), and logs a wrong one. A node with `notaryBond` set also
 * joins the notary panel and acts on it: it challenges a wrong posting before its challenge period ends (a bond at
 * stake, so only on a verdict it can recompute), draws the panel of a Settlement challenge, votes when drawn (uphold
 * exactly when the posting is wrong), and executes an upheld slash once its delay is over. A Settlement challenge is
 * the one kind a daemon judges alone: its evidence is all on chain.
 */
export class SettlementWatch {
  private joined = false;
  /** Epochs with a posting not finalized or voided yet, and Settlement challenges not final yet. */
  private readonly epochs = new Set<bigint>();
  private readonly challenges = new Set<bigint>();
  private readonly reported = new Set<string>();
  private scannedTo: number | undefined;

  constructor(
    private readonly book: SettlementBook,
    private readonly notaryBond: string,
    private readonly log: Logger,
  ) {}

  async pass(chain: ChainConnection): Promise<void> {
    if (this.notaryBond && !this.joined) this.joined = await this.join(chain);
    await this.scan(chain);
    for (const epoch of this.epochs) await this.checkPosting(chain, epoch);
    if (!this.joined) return;
    for (const id of this.challenges) await this.judge(chain, id);
  }

  /** Joins the panel with the configured bond unless this wallet is a notary already. */
  private async join(chain: ChainConnection): Promise<boolean> {
    const panel = chain.c.panel;
    if ((await panel.getFunction('notaryOf')(chain.wallet.address)).joined) return true;
    const tx = await panel.getFunction('join')({ value: parseEther(this.notaryBond) });
    await tx.wait();
    this.log.info({ address: chain.wallet.address, bond: this.notaryBond, tx: tx.hash }, 'chain: joined the notary panel');
    return true;
  }

  /** New postings and Settlement challenges since the last pass. */
  private async scan(chain: ChainConnection): Promise<void> {
    const { ledger, panel } = chain.c;
    const to = await chain.provider.getBlockNumber();
    const from = this.scannedTo === undefined ? chain.d.block : this.scannedTo + 1;
    if (from > to) return;
    for (const { ev } of await readLogs(chain, ledger, ['SettlementPosted'], from, to)) this.epochs.add(ev.args.epoch as bigint);
    for (const { ev } of await readLogs(chain, panel, ['ChallengeOpened'], from, to)) {
      if (BigInt(ev.args.kind as bigint) === KIND_SETTLEMENT) this.challenges.add(ev.args.challengeId as bigint);
    }
    this.scannedTo = to;
  }

  private async checkPosting(chain: ChainConnection, epoch: bigint): Promise<void> {
    const posting = await this.book.posting(chain, epoch);
    if (!posting || posting.finalized || posting.voided) return void this.epochs.delete(epoch);
    const window = (await chain.c.params.getFunction('challengeWindow')()) as bigint;
    if ((await chainNow(chain)) >= posting.postedAt + window && posting.openChallenges === 0) return; // too late to act
    const verdict = await this.book.check(chain, epoch, posting);
    if (verdict.ok) return;
    const key = `${epoch}:${posting.root}:${posting.postedAt}`;
    if (!this.reported.has(key)) {
      this.reported.add(key);
      this.log.error({ epoch: epoch.toString(), settler: posting.settler, why: verdict.why }, 'chain: a settlement posting is wrong');
    }
    if (!this.joined || posting.settler === getAddress(chain.wallet.address) || posting.openChallenges > 0) return;
    const bond = (await chain.c.params.getFunction('challengeBond')()) as bigint;
    const args = [KIND_SETTLEMENT, posting.settler, epoch];
    if (!(await this.simulate(chain, 'challenge', args, bond))) return;
    const tx = await chain.c.panel.getFunction('challenge')(...args, { value: bond });
    await tx.wait();
    this.log.warn(
      { epoch: epoch.toString(), settler: posting.settler, why: verdict.why, tx: tx.hash },
      'chain: challenged a wrong settlement',
    );
  }

  /** One step of a Settlement challenge: draw its panel, vote if seated, execute an upheld slash once due. */
  private async judge(chain: ChainConnection, id: bigint): Promise<void> {
    const panel = chain.c.panel;
    const me = chain.wallet.address;
    const c = await panel.getFunction('challengeOf')(id);
    const status = BigInt(c.status as bigint);
    if (status === STATUS.upheld) {
      if ((await chainNow(chain)) < (c.executeAfter as bigint)) return;
      if (!(await this.simulate(chain, 'execute', [id]))) return;
      await (await panel.getFunction('execute')(id)).wait();
      this.log.info({ challenge: id.toString(), node: c.node }, 'chain: upheld settlement challenge executed');
      return;
    }
    if (status !== STATUS.open && status !== STATUS.appealed) return void this.challenges.delete(id);
    if (!c.drawn) {
      // The draw runs in the next block, which must come after the draw block (its hash is the seed).
      if ((await chain.provider.getBlockNumber()) < Number(c.drawBlock)) return;
      if (await this.simulate(chain, 'draw', [id])) await (await panel.getFunction('draw')(id)).wait();
      return;
    }
    const seat = await panel.getFunction('seatOf')(id, me);
    if (!seat.seated || BigInt(seat.round) !== BigInt(c.round) || (await panel.getFunction('hasVoted')(id, me))) return;
    const posting = await this.book.posting(chain, c.epoch as bigint);
    if (!posting || getAddress(posting.settler) !== getAddress(c.node as string)) return;
    const verdict = await this.book.check(chain, c.epoch as bigint, posting);
    if (!(await this.simulate(chain, 'vote', [id, !verdict.ok]))) return;
    await (await panel.getFunction('vote')(id, !verdict.ok)).wait();
    this.log.info(
      {
        challenge: id.toString(),
        epoch: String(c.epoch),
        uphold: !verdict.ok,
        why: verdict.ok ? 'the claims give this root' : verdict.why,
      },
      'chain: voted on a settlement challenge',
    );
  }

  /** eth_call of a panel call on the pending block first: false (logged) when it is refused; an RPC failure throws. */
  private async simulate(chain: ChainConnection, fn: string, args: unknown[], value?: bigint): Promise<boolean> {
    try {
      await chain.c.panel.getFunction(fn).staticCall(...args, { blockTag: 'pending', ...(value === undefined ? {} : { value }) });
      return true;
    } catch (err) {
      const reason = (err as Revert).revert;
      if (!reason?.name) throw err;
      this.log.info({ fn, reason: reason.name, args: (reason.args ?? []).map(String) }, 'chain: settlement watch step refused; next pass');
      return false;
    }
  }
}
