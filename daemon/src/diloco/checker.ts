import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../util/errors.js';
import { type RoundContext, currentRound, maxGradientBytes } from './context.js';
import type { GradientCheck, GradientCheckRequest } from './messages.js';
import { checkDigest, gradientDigest, signerOf } from './statements.js';
import type { RoundRefusal } from './refusals.js';
import { type Verifier, reasonLabel } from './verifier.js';

/**
 * The checker's side: the leader of the round this node is at asks it to spot-check the leader's own gradient
 * (a leader cannot vouch for itself). The answer is a signed verdict the leader must put in its proposal; every
 * member refuses a proposal that merges the leader's gradient without one. Checks run one at a time and each
 * (round, gradient) once.
 */
export class Checker {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly done = new Map<string, GradientCheck>();

  constructor(
    private readonly ctx: RoundContext,
    private readonly verifier: Verifier,
  ) {}

  /** Resolves once no check is running (the drain at stop). */
  async idle(): Promise<void> {
    await this.queue;
  }

  check(from: string, req: GradientCheckRequest): Promise<GradientCheck> {
    const run = this.queue.then(() => this.checkNow(from, req));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async checkNow(from: string, req: GradientCheckRequest): Promise<GradientCheck> {
    const c = this.ctx;
    const key = `${req.round}:${from}:${req.sha256}`;
    const cached = this.done.get(key);
    if (cached) return cached;
    const verdict = (accepted: boolean, reason: string): GradientCheck => {
      const unsigned = { round: req.round, baseSha256: req.baseSha256, sha256: req.sha256, subject: from, checker: c.me, accepted, reason };
      const v = { ...unsigned, signature: c.signer.sign(checkDigest(unsigned)) };
      if (!accepted) c.refuser.note('check', from, reasonLabel(reason) as RoundRefusal, `its own gradient ${req.sha256}: ${reason}`);
      return v;
    };
    // Not final for the leader: it asks another member (checked here, so a check queued behind one cut is not begun).
    if (c.signal.aborted) return verdict(false, 'unavailable: this node is shutting down');
    const r = currentRound(c);
    const latest = c.outcomes.latest();
    if (req.round !== r) return verdict(false, `wrong_round: this node is at round ${r}`);
    if (!latest || req.baseSha256 !== latest.sha256) return verdict(false, `base_mismatch: this node's latest is ${latest?.sha256}`);
    if (c.view.expectedLeader(r) !== from && c.rounds.get(r)?.leader !== from)
      return verdict(false, `not_expected_leader: ${from} does not lead round ${r} here`);
    if (signerOf(gradientDigest(req.round, req.baseSha256, req.sha256, req.size), req.statementSignature)?.nodeId !== from)
      return verdict(false, 'bad_statement: the gradient statement is not signed by the leader');
    const file = join(c.gradDir, 'fetched', `check-${req.round}-${req.sha256}.safetensors`);
    try {
      await c.network.fetchBlob(from, req.sha256, file, Math.min(req.size, maxGradientBytes(c, req.baseSha256)));
      const v = await this.verifier.check(req.round, c.ckpts.path(req.baseSha256), file, req.sha256, req.size, c.view.trainers().length);
      const out = verdict(v.verdict === 'accepted', v.reason);
      this.done.set(key, out);
      for (const k of this.done.keys()) if (Number(k.split(':')[0]) < r - 2) this.done.delete(k);
      c.log.info({ round: r, leader: from, sha256: req.sha256, verdict: v.verdict, reason: v.reason }, "checked the leader's own gradient");
      return out;
    } catch (err) {
      return verdict(false, `unavailable: ${errorMessage(err)}`);
    } finally {
      rmSync(file, { force: true });
      rmSync(`${file}.part`, { force: true });
    }
  }
}
