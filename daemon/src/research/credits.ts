import type { Logger } from '../log/logger.js';
import { errorMessage, MagnetError } from '../util/errors.js';
import { resolveConfig, type TrialConfig, trialTokens } from './hparams.js';
import type { CreditBook, ResearchAck, ResearchPeers, ResearchSigner } from './ports.js';
import { type CreditReceipt, MAX_CREDITS, openRecord, parseCredits, RecordError, signRecord } from './records.js';
import type { ResearchRepo, TrialRow } from './research-repo.js';

/** A worker that could not be reached, or whose receipts are not signed yet, is tried again after this long. */
const RETRY_MS = 60_000;
/** A worker with no chain to claim on is asked again after this long (its operator may configure one). */
const NO_CHAIN_RETRY_MS = 15 * 60_000;

export interface TrialCreditsDeps {
  self: { nodeId: string };
  repo: ResearchRepo;
  peers: ResearchPeers;
  signer: ResearchSigner;
  book: CreditBook;
  log: Logger;
  now?: () => number;
}

/**
 * Trials run for others become contribution claims.
 *
 * Research node: when a run ends (done or stopped), each trial that a worker of another node ran and that counted
 * becomes a contribution record under the trial's own ledger round, with the full score and the tokens its job
 * names (not the count the worker reported). Checked and unchecked trials are paid alike: the worker cannot tell
 * which of its results were re-scored. A worker refused in the run forfeits every trial of it. The chain part signs
 * each receipt as leader, and this node sends each worker its receipts in a signed trial-credits record until the
 * worker answers.
 *
 * Worker: takes receipts only from the research node it ran the trial for, only under the ledger round that
 * trial's job named, only for the checkpoint it produced and at most the tokens it trained; then queues the claims.
 */
export class TrialCredits {
  private readonly retryAt = new Map<string, number>();
  private busy = false;

  constructor(private readonly d: TrialCreditsDeps) {}

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  /** Research node: settles the credits of ended runs, then sends the receipts signed so far. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.settle();
      await this.deliver();
    } catch (err) {
      this.d.log.warn({ err: errorMessage(err) }, 'research credits: pass failed; retried on the next tick');
    } finally {
      this.busy = false;
    }
  }

  /** Records a contribution for each creditable trial of an ended run, in one transaction; returns how many. */
  settle(): number {
    const rows = this.d.repo.unsettledCredits();
    if (rows.length === 0) return 0;
    const refused = new Map<string, Set<string>>();
    const refusedIn = (runId: string) => {
      if (!refused.has(runId)) refused.set(runId, new Set(this.d.repo.refusedWorkers(runId).map((w) => w.nodeId)));
      return refused.get(runId) as Set<string>;
    };
    let recorded = 0;
    this.d.repo.tx(() => {
      for (const t of rows) {
        const why = this.noCredit(t, refusedIn(t.runId));
        if (why) {
          this.d.repo.setCredit(t.runId, t.trialId, 'none', why);
          continue;
        }
        this.d.book.record({
          round: t.creditRound as number,
          nodeId: t.assignee as string,
          tokens: trialTokens(resolveConfig(JSON.parse(t.config) as TrialConfig), t.steps),
          steps: t.steps,
          // A trial's receipt carries the full score (scoreOf: a verified delta of 1 is 1,000,000 ppm).
          lossDelta: 1,
          verified: true,
          gradientSha256: t.checkpointSha256 as string,
        });
        this.d.repo.setCredit(t.runId, t.trialId, 'recorded');
        recorded++;
      }
    });
    if (recorded > 0) this.d.log.info({ recorded }, 'research credits: trials run by other nodes recorded as contributions');
    return recorded;
  }

  /** Why trial `t` of an ended run earns its worker nothing, or undefined when it earns a receipt. */
  private noCredit(t: TrialRow, refused: ReadonlySet<string>): string | undefined {
    if (!t.assignee || t.assignee === this.d.self.nodeId) return 'run by this node';
    if (refused.has(t.assignee)) return `${t.assignee} was refused in this run: a result that did not reproduce forfeits the run`;
    if (!t.checkpointSha256 || !/^[0-9a-f]{64}$/.test(t.checkpointSha256)) return 'no checkpoint reported';
    return undefined;
  }

  /** Sends each worker the receipts signed for its recorded credits (due workers only). */
  async deliver(): Promise<void> {
    const byWorker = new Map<string, TrialRow[]>();
    for (const t of this.d.repo.credits('recorded')) {
      const w = t.assignee as string;
      if ((this.retryAt.get(w) ?? 0) > this.now()) continue;
      byWorker.set(w, [...(byWorker.get(w) ?? []), t]);
    }
    if (byWorker.size === 0) return;
    // One pass of the chain part for every due round (signing what is pending costs chain RPCs), then per worker.
    const all = await this.d.book.receipts([...byWorker.values()].flat().map((t) => t.creditRound as number));
    for (const [worker, rows] of byWorker) {
      const signed = all.filter((r) => r.nodeId === worker);
      if (signed.length === 0) {
        // Not signed yet: no chain, the chain is down, or the worker has not registered on it.
        this.retryAt.set(worker, this.now() + RETRY_MS);
        continue;
      }
      for (let i = 0; i < signed.length; i += MAX_CREDITS) await this.send(worker, rows, signed.slice(i, i + MAX_CREDITS));
    }
  }

  private async send(worker: string, rows: TrialRow[], receipts: CreditReceipt[]): Promise<void> {
    const rec = signRecord('trial-credits', { v: 1, researcher: this.d.self.nodeId, receipts }, (dg) => this.d.signer.sign(dg));
    let ack: ResearchAck;
    try {
      ack = await this.d.peers.creditTrials(worker, rec);
    } catch (err) {
      this.retryAt.set(worker, this.now() + RETRY_MS);
      this.d.log.info({ worker, err: errorMessage(err) }, 'research credits: worker not reached; retried later');
      return;
    }
    if (!ack.accepted && /^chain_(not_configured|unavailable):/.test(ack.reason)) {
      this.retryAt.set(worker, this.now() + (ack.reason.startsWith('chain_unavailable') ? RETRY_MS : NO_CHAIN_RETRY_MS));
      return;
    }
    const rounds = new Set(receipts.map((r) => r.round));
    this.d.repo.tx(() => {
      for (const t of rows)
        if (rounds.has(t.creditRound as number))
          this.d.repo.setCredit(t.runId, t.trialId, ack.accepted ? 'delivered' : 'refused', ack.reason || null);
    });
    this.d.log.info({ worker, receipts: receipts.length, accepted: ack.accepted, reason: ack.reason }, 'research credits: receipts sent');
  }

  /**
   * Worker side: a research node's receipts for trials this node ran (the net guard already checked the caller is
   * a member). Refusals name why: the record's (bad_signature, wrong_author, bad_field), wrong_node, not_served,
   * wrong_checkpoint, too_many_tokens, chain_not_configured, chain_unavailable, claim_failed.
   */
  async accept(from: string, rec: { kind: string; body: Uint8Array; signature: Uint8Array }): Promise<ResearchAck> {
    const no = (reason: string, detail: string): ResearchAck => {
      this.d.log.warn({ from, reason, detail }, 'research credits refused');
      return { accepted: false, reason: `${reason}: ${detail}` };
    };
    let credits;
    try {
      credits = parseCredits(openRecord(rec, 'trial-credits', 'researcher', from));
    } catch (err) {
      return err instanceof RecordError ? no(err.reason, err.message) : no('bad_field', errorMessage(err));
    }
    for (const r of credits.receipts) {
      if (r.nodeId !== this.d.self.nodeId) return no('wrong_node', `a receipt for ${r.nodeId} sent to ${this.d.self.nodeId}`);
      const s = this.d.repo.servedByCredit(r.round, from);
      if (!s) return no('not_served', `this node ran no trial for ${from} under ledger round ${r.round}`);
      if (!s.checkpointSha256 || r.gradientHash.toLowerCase() !== `0x${s.checkpointSha256}`)
        return no(
          'wrong_checkpoint',
          `receipt names ${r.gradientHash}, trial ${s.trialId} produced ${s.checkpointSha256 ?? 'no checkpoint'}`,
        );
      if (s.tokens !== null && r.tokens > s.tokens)
        return no('too_many_tokens', `receipt names ${r.tokens} tokens, trial ${s.trialId} trained ${s.tokens}`);
    }
    try {
      const queued = await this.d.book.accept(credits.receipts);
      this.d.log.info({ from, receipts: credits.receipts.length, queued }, 'research credits: claims queued for trials run for others');
      return { accepted: true, reason: `queued ${queued} of ${credits.receipts.length}` };
    } catch (err) {
      if (err instanceof MagnetError && err.code === 'ERR_CHAIN_NOT_CONFIGURED') return no('chain_not_configured', err.message);
      if (err instanceof MagnetError && err.code === 'ERR_CHAIN_UNAVAILABLE') return no('chain_unavailable', err.message);
      return no('claim_failed', errorMessage(err));
    }
  }
}
