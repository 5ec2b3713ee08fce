import { errorMessage } from '../util/errors.js';
import { type RoundContext, gradientFile } from './context.js';
import type { LocalTraining } from './local-training.js';
import type { GradientCheck } from './messages.js';
import { checkToJson } from './outcome-repo.js';
import type { RoundRefusal } from './refusals.js';
import type { JudgedGradient, RoundRow } from './round-repo.js';
import { checkDigest, signerOf } from './statements.js';
import { type Verifier, outliers, reasonLabel } from './verifier.js';

/** Verdict reasons of the checker that are final; anything else (unreachable, busy, behind) is asked again. */
const FINAL_CHECK = ['size', 'spot_check', 'grad_nonfinite', 'grad_outlier', 'grad_base_mismatch', 'format', 'bad_statement'];

/**
 * How the leader judges the gradients of its round before the merge: each member's by its own spot check, its own
 * by the next member in the order (a signed verdict that goes in the proposal), and outliers by norm.
 */
export class Judging {
  /** Who was asked to check our own gradient, per round. */
  private readonly checks = new Map<number, { skip: string[]; refused: number; failures: number; nextAt: number }>();

  constructor(
    private readonly ctx: RoundContext,
    private readonly trainer: LocalTraining,
    private readonly verifier: Verifier,
  ) {}

  /** Spot-checks one member's gradient once its file arrived (pushed to us, or in shared storage). */
  async judge(row: RoundRow, g: JudgedGradient): Promise<boolean> {
    const c = this.ctx;
    const file = gradientFile(c, g.sha256);
    if (!file) return false; // not arrived yet: the sender pushes before it signals
    const v = await this.verifier.check(row.round, c.ckpts.path(row.baseSha256), file, g.sha256, g.size, row.needed.length);
    c.grads.setVerdict(row.round, g.nodeId, {
      status: v.verdict,
      reason: v.verdict === 'refused' ? v.reason : null,
      lossDelta: v.lossDelta,
      spotChecked: true,
      norm: v.norm,
    });
    c.metrics.gradients.inc({ verdict: v.verdict, reason: v.verdict === 'accepted' ? 'ok' : reasonLabel(v.reason) });
    if (v.verdict === 'refused') c.refuser.note('gradient', g.nodeId, reasonLabel(v.reason) as RoundRefusal, v.reason);
    else c.log.info({ round: row.round, sender: g.nodeId, lossDelta: v.lossDelta, norm: v.norm }, 'gradient accepted');
    return true;
  }

  /**
   * Our own gradient, checked by the next member in the order (its signed verdict goes in the proposal). A checker
   * that refuses it for what it is gets a second opinion from the next member (one checker's malice is not the last
   * word); one that cannot answer (busy, behind, unreachable) is asked again a few times, then the next one is.
   * Alone in the network, nobody can check it and nobody needs to.
   */
  async checkOwn(row: RoundRow, g: JudgedGradient): Promise<boolean> {
    const c = this.ctx;
    if (c.view.memberCount() <= 1) {
      c.grads.setVerdict(row.round, c.me, { status: 'accepted', reason: 'own', spotChecked: false });
      c.metrics.gradients.inc({ verdict: 'accepted', reason: 'own' });
      return true;
    }
    const s = this.checks.get(row.round) ?? { skip: [] as string[], refused: 0, failures: 0, nextAt: 0 };
    this.checks.set(row.round, s);
    const giveUp = (why: string) => {
      c.grads.setVerdict(row.round, c.me, { status: 'refused', reason: `unchecked: ${why}` });
      c.metrics.gradients.inc({ verdict: 'refused', reason: 'unchecked' });
      c.log.warn({ round: row.round, why }, 'our own gradient is left out of the merge: no member could check it');
      return true;
    };
    if (Date.now() < s.nextAt) return false;
    const checker = c.view.checkerFor(row.round, c.me, s.skip);
    if (!checker) return s.skip.length > 0 || Date.now() > row.deadlineMs ? giveUp('no other live trainer could check it') : false;
    const retry = (why: string) => {
      s.failures++;
      s.nextAt = Date.now() + 2000;
      if (s.failures >= 3) {
        s.skip.push(checker);
        s.failures = 0;
      }
      if (Date.now() > row.deadlineMs) return giveUp(`${checker}: ${why}`);
      c.log.debug({ round: row.round, checker, why }, 'our own gradient could not be checked yet');
      return false;
    };
    let v: GradientCheck;
    try {
      v = await c.network.checkGradient(checker, {
        round: row.round,
        baseSha256: row.baseSha256,
        sha256: g.sha256,
        size: g.size,
        manifestId: g.manifestId,
        statementSignature: this.trainer.statement(row, g.sha256, g.size),
      });
    } catch (err) {
      return retry(errorMessage(err));
    }
    const signer = signerOf(checkDigest(v), v.signature);
    if (signer?.nodeId !== checker || v.checker !== checker || v.subject !== c.me || v.sha256 !== g.sha256 || v.round !== row.round) {
      return retry('a verdict that is not its own on this gradient');
    }
    if (v.accepted) {
      c.grads.setVerdict(row.round, c.me, { status: 'accepted', reason: null, spotChecked: true, checkJson: checkToJson(v) });
      c.metrics.gradients.inc({ verdict: 'accepted', reason: 'ok' });
      return true;
    }
    if (!FINAL_CHECK.includes(reasonLabel(v.reason))) return retry(v.reason);
    if (s.refused === 0) {
      s.refused++;
      s.skip.push(checker);
      c.log.warn({ round: row.round, checker, reason: v.reason }, 'the checker refused our own gradient; asking the next member');
      return false;
    }
    c.grads.setVerdict(row.round, c.me, { status: 'refused', reason: v.reason });
    c.metrics.gradients.inc({ verdict: 'refused', reason: reasonLabel(v.reason) });
    c.log.warn({ round: row.round, checker, reason: v.reason }, 'two checkers refused our own gradient');
    return true;
  }

  /** Refuses accepted gradients whose norm is far above the others' median (before the merge, never in it). */
  refuseOutliers(row: RoundRow): void {
    const c = this.ctx;
    const accepted = c.grads.forRound(row.round).filter((g) => g.status === 'accepted' && g.norm !== null);
    for (const i of outliers(
      accepted.map((g) => g.norm as number),
      c.opts.outlierRatio,
    )) {
      const g = accepted[i] as JudgedGradient;
      const reason = `grad_outlier: norm ${g.norm?.toPrecision(4)} is more than ${c.opts.outlierRatio}x the median of the others`;
      c.grads.setVerdict(row.round, g.nodeId, { status: 'refused', reason, norm: g.norm ?? undefined });
      c.metrics.gradients.inc({ verdict: 'refused', reason: 'grad_outlier' });
      c.refuser.note('gradient', g.nodeId, 'grad_outlier', reason);
    }
  }
}
