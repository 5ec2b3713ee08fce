import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { errorMessage, MagnetError } from '../util/errors.js';
import { proposePhase } from './designer.js';
import { canonicalJson, configKey, resolveConfig, type TrialConfig } from './hparams.js';
import { candidates, converged, improvement, type Phase, phaseSteps, type Ranked, type ResearchPlan } from './plan.js';
import type { ResearchPeers, ResearchSigner, ResearchStorage, TrainerCall } from './ports.js';
import {
  jobDigestHex,
  openRecord,
  parseFailure,
  parseResult,
  RecordError,
  signRecord,
  TRIAL_CREDIT_BASE,
  type TrialJob,
} from './records.js';
import { NO_RESULT, type ResearchRepo, type RunRow, type TrialRow, UNASSIGNED } from './research-repo.js';
import { checkResult, Lie, type ResultCheckDeps } from './result-check.js';
import type { TrialOutcome, TrialWorker } from './worker.js';

export interface ResearchRunnerDeps {
  self: { nodeId: string; roles: readonly string[] };
  /** Whether this node runs trials of its own plan (a trainer that accepts trials). */
  trainsItself: boolean;
  repo: ResearchRepo;
  peers: ResearchPeers;
  storage: ResearchStorage;
  trainer: TrainerCall;
  worker: TrialWorker;
  signer: ResearchSigner;
  dir: string;
  log: Logger;
  env: Record<string, string | undefined>;
  /** Trial failures before a trial is given up (each attempt may go to another worker). */
  maxAttempts?: number;
  now?: () => number;
}

/** The first phase of every run: the base config alone, so every later phase has a baseline to beat. */
const BASE_PHASE: Phase = { name: 'base', vary: [{}] };
/** A worker that refused an offer is not offered another for this long. */
const REFUSAL_COOLDOWN_MS = 30_000;

/** An earlier offer of a trial (research_trials.prior_jobs). */
interface PriorJob {
  job: string | null;
  worker: string;
}

/** A phase's configs, each with the mean eval loss over its seeds. */
interface Group {
  key: string;
  config: TrialConfig;
  evalLoss: number;
  trials: TrialRow[];
}

/**
 * Drives one research plan at a time (paper Algorithm 1, phase by phase): makes each phase's trials, offers them to
 * trainer nodes as signed jobs (this node included when it trains), takes their signed results, re-scores a sample
 * and every result that would win before it counts, refuses a worker whose result does not reproduce (and drops its
 * trials), closes a phase into a signed finding, carries the best config on, asks the designer for a phase of its
 * own, and stops on convergence, budget or the plan's end. Every step is a SQLite transaction, so a restarted node
 * resumes where it was; `tick` is idempotent and may run any time.
 */
export class ResearchRunner {
  private ticking = false;
  /** Trainer work of this node (its own trials, re-scores): one at a time on a CPU node. */
  private localQueue: Promise<unknown> = Promise.resolve();
  private readonly inFlight = new Set<string>();
  private readonly cooldown = new Map<string, number>();
  private readonly controller = new AbortController();
  /** Re-scores since this process started: how many, the trainer seconds they took, how many refused a worker. */
  readonly rescores = { count: 0, seconds: 0, refused: 0 };

  private readonly checks: ResultCheckDeps;

  constructor(private readonly d: ResearchRunnerDeps) {
    this.checks = { repo: d.repo, storage: d.storage, trainer: d.trainer, dir: d.dir, signal: this.controller.signal };
  }

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  stop(): void {
    this.controller.abort();
  }

  /** After a restart: this node's own trials in flight died with the process and go back to the queue. */
  recover(): void {
    const run = this.d.repo.current();
    if (run?.state !== 'running') return;
    for (const t of this.d.repo.trials(run.runId))
      if (t.state === 'assigned' && t.assignee === this.d.self.nodeId)
        this.d.repo.updateTrial(run.runId, t.trialId, {
          state: 'queued',
          ...UNASSIGNED,
          note: 'requeued: this node restarted',
        });
  }

  /** Starts a run of `plan`; refuses while another runs (ERR_RESEARCH_RUNNING). */
  start(plan: ResearchPlan, planHash: string): RunRow {
    const running = this.d.repo.current();
    if (running?.state === 'running')
      throw new MagnetError('ERR_RESEARCH_RUNNING', `research run ${running.runId} (${running.name}) is running; stop it first`);
    const at = this.now();
    const row: RunRow = {
      runId: `r${at.toString(36)}${randomBytes(3).toString('hex')}`,
      name: plan.name,
      plan: JSON.stringify(plan),
      planHash,
      phases: JSON.stringify([BASE_PHASE, ...plan.phases]),
      state: 'running',
      phaseIndex: 0,
      bestConfig: JSON.stringify(plan.base),
      bestEval: null,
      history: '[]',
      proposals: 0,
      secret: randomBytes(16).toString('hex'),
      stopReason: null,
      startedAt: at,
      updatedAt: at,
    };
    this.d.repo.insertRun(row);
    this.d.log.info({ run: row.runId, plan: plan.name, phases: plan.phases.length }, 'research run started');
    return row;
  }

  /** Stops the running run (its trials in flight finish unheard). */
  halt(reason = 'stopped by the operator'): RunRow | undefined {
    const run = this.d.repo.current();
    if (run?.state !== 'running') return undefined;
    this.d.repo.updateRun(run.runId, { state: 'stopped', stopReason: reason });
    return this.d.repo.run(run.runId);
  }

  /** One pass of the loop: deadlines, assignment, re-scores, closing the phase. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const run = this.d.repo.current();
      if (run?.state !== 'running') return;
      const plan = JSON.parse(run.plan) as ResearchPlan;
      const phases = JSON.parse(run.phases) as Phase[];
      if (this.now() - run.startedAt > plan.budget.maxHours * 3_600_000) return await this.finish(run, plan, 'budget spent: maxHours');
      const phase = phases[run.phaseIndex] as Phase;
      let trials = this.d.repo.trials(run.runId, run.phaseIndex);
      if (trials.length === 0) {
        // A phase starts only if all its trials fit the budget: a half-run phase would compare nothing.
        if (!this.createTrials(run, plan, phase)) return await this.finish(run, plan, 'budget spent: maxTrials');
        trials = this.d.repo.trials(run.runId, run.phaseIndex);
        if (trials.length === 0) return await this.closePhase(run, plan, phases);
      }
      this.expire(run, plan, trials);
      this.assign(run, plan, this.d.repo.trials(run.runId, run.phaseIndex));
      this.checkReported(run, plan, this.d.repo.trials(run.runId, run.phaseIndex));
      const now = this.d.repo.trials(run.runId, run.phaseIndex);
      if (now.every((t) => t.state === 'done' || t.state === 'failed')) await this.closePhase(run, plan, phases);
    } catch (err) {
      this.d.log.error({ err: errorMessage(err) }, 'research tick failed');
    } finally {
      this.ticking = false;
    }
  }

  /**
   * The configs of the phase, once per seed; a (config, seed, steps) already run in this run is reused, not rerun.
   * False, and nothing made, when the new trials would take the run past plan.budget.maxTrials.
   */
  private createTrials(run: RunRow, plan: ResearchPlan, phase: Phase): boolean {
    const best = JSON.parse(run.bestConfig) as TrialConfig;
    const all = this.d.repo.trials(run.runId);
    const ranked: Ranked[] = this.groups(all.filter((t) => t.steps === plan.budget.steps && !(t.note ?? '').startsWith('reused'))).map(
      (g) => ({
        config: g.config,
        evalLoss: g.evalLoss,
      }),
    );
    const c = candidates(phase, best, ranked);
    // The final validation also runs the base at its budget: the improvement is measured at equal steps.
    if ('final' in phase && !c.configs.some((x) => configKey(x) === configKey(plan.base))) c.configs.push(plan.base);
    const steps = phaseSteps(plan, phase);
    const rows = c.configs.flatMap((config, i) =>
      plan.seeds.map((seed) => {
        const key = configKey(config);
        const row = {
          runId: run.runId,
          trialId: `p${run.phaseIndex}-c${i}-s${seed}`,
          phaseIndex: run.phaseIndex,
          config: canonicalJson(resolveConfig(config)),
          configKey: key,
          seed,
          steps,
        };
        return { row, prior: all.find((t) => t.configKey === key && t.seed === seed && t.steps === steps && t.state === 'done') };
      }),
    );
    const used = all.filter((t) => !(t.note ?? '').startsWith('reused')).length;
    const fresh = rows.filter((r) => !r.prior).length;
    if (fresh > 0 && used + fresh > plan.budget.maxTrials) return false;
    this.d.repo.tx(() => {
      for (const { row, prior } of rows)
        if (prior) this.d.repo.insertTrial({ ...prior, ...row, state: 'done', note: `reused ${prior.trialId}` });
        else this.d.repo.insertTrial({ ...row, state: 'queued' });
    });
    for (const d of c.dropped) this.d.log.info({ run: run.runId, phase: phase.name, reason: d.reason }, 'candidate dropped');
    this.d.log.info({ run: run.runId, phase: phase.name, configs: c.configs.length, steps }, 'research phase started');
    return true;
  }

  /** Assigned trials past their deadline, or whose worker went stale, go back to the queue (or fail after maxAttempts). */
  private expire(run: RunRow, plan: ResearchPlan, trials: TrialRow[]): void {
    const now = this.now();
    const max = this.d.maxAttempts ?? 3;
    for (const t of trials) {
      if (t.state !== 'assigned' || !t.assignee || t.assignee === this.d.self.nodeId) continue;
      // trialTimeoutSec is for a trial of the budget's steps; a longer one (the final validation) gets as much longer.
      const limit = plan.trialTimeoutSec * Math.max(1, t.steps / plan.budget.steps);
      const late = now - (t.assignedAt ?? now) > limit * 1000;
      const gone = this.d.peers.isStale(t.assignee);
      if (!late && !gone) continue;
      const why = late ? `no result from ${t.assignee} within ${Math.round(limit)} s` : `${t.assignee} went away`;
      const failed = t.attempts >= max;
      // A slow worker may still answer: its result counts if it comes before another's (see acceptResult).
      const priorJobs = JSON.stringify([...(JSON.parse(t.priorJobs) as PriorJob[]), { job: t.jobDigest, worker: t.assignee }]);
      this.d.repo.updateTrial(run.runId, t.trialId, {
        state: failed ? 'failed' : 'queued',
        ...UNASSIGNED,
        priorJobs,
        note: failed ? `given up after ${t.attempts} attempts: ${why}` : `reassigned: ${why}`,
      });
      this.d.log.warn({ run: run.runId, trial: t.trialId, why, failed }, 'research trial reassigned');
    }
  }

  /** Who may run a trial now: this node (when it trains) and live member trainers not refused, each one trial at a time. */
  private freeWorkers(run: RunRow, busy: Set<string>): string[] {
    const refused = new Set(this.d.repo.refusedWorkers(run.runId).map((r) => r.nodeId));
    const now = this.now();
    const out: string[] = [];
    if (this.d.trainsItself && !busy.has(this.d.self.nodeId) && !this.d.worker.busy()) out.push(this.d.self.nodeId);
    for (const p of this.d.peers.livePeers()) {
      if (!p.member || !p.roles.includes('trainer') || refused.has(p.nodeId) || busy.has(p.nodeId)) continue;
      if ((this.cooldown.get(p.nodeId) ?? 0) > now || this.d.peers.isStale(p.nodeId)) continue;
      out.push(p.nodeId);
    }
    return out;
  }

  private assign(run: RunRow, plan: ResearchPlan, trials: TrialRow[]): void {
    const busy = new Set(
      this.d.repo
        .trials(run.runId)
        .filter((t) => t.state === 'assigned' && t.assignee)
        .map((t) => t.assignee as string),
    );
    const queued = trials.filter((t) => t.state === 'queued');
    const workers = this.freeWorkers(run, busy);
    for (const t of queued) {
      const w = workers.shift();
      if (!w) break;
      this.offer(run, plan, t, w);
    }
  }

  private job(run: RunRow, plan: ResearchPlan, t: TrialRow, creditRound: number | null): TrialJob {
    return {
      v: 1,
      runId: run.runId,
      trialId: t.trialId,
      researcher: this.d.self.nodeId,
      config: JSON.parse(t.config) as Record<string, unknown>,
      seed: t.seed,
      steps: t.steps,
      data: plan.data,
      evalWindows: plan.evaluation.evalWindows,
      testWindows: plan.evaluation.testWindows,
      issuedAt: this.now(),
      ...(creditRound === null ? {} : { creditRound }),
    };
  }

  private offer(run: RunRow, plan: ResearchPlan, t: TrialRow, worker: string): void {
    // A trial another node runs earns it a receipt under a ledger round of its own, the same for every offer of it.
    let creditRound = t.creditRound;
    if (worker !== this.d.self.nodeId && creditRound === null) {
      creditRound = this.d.repo.nextCreditRound(TRIAL_CREDIT_BASE);
      this.d.repo.updateTrial(run.runId, t.trialId, { creditRound });
    }
    const job = this.job(run, plan, t, worker === this.d.self.nodeId ? null : creditRound);
    const rec = signRecord('trial-job', job, (dg) => this.d.signer.sign(dg));
    const digest = jobDigestHex(rec);
    this.d.repo.updateTrial(run.runId, t.trialId, {
      state: 'assigned',
      assignee: worker,
      assignedAt: this.now(),
      jobDigest: digest,
      attempts: t.attempts + 1,
    });
    if (worker === this.d.self.nodeId) return this.runLocal(run, t.trialId, job, digest);
    this.d.peers
      .offerTrial(worker, rec)
      .then(
        (ack) => {
          if (!ack.accepted) this.unassign(run.runId, t.trialId, digest, worker, `offer refused by ${worker}: ${ack.reason}`);
        },
        (err) => this.unassign(run.runId, t.trialId, digest, worker, `offer to ${worker} failed: ${errorMessage(err)}`),
      )
      .catch((err) => this.d.log.error({ trial: t.trialId, err: errorMessage(err) }, 'research offer bookkeeping failed'));
  }

  private unassign(runId: string, trialId: string, digest: string, worker: string, note: string): void {
    this.cooldown.set(worker, this.now() + REFUSAL_COOLDOWN_MS);
    const t = this.d.repo.trial(runId, trialId);
    if (t?.state !== 'assigned' || t.jobDigest !== digest) return;
    this.d.repo.updateTrial(runId, trialId, {
      state: 'queued',
      ...UNASSIGNED,
      attempts: Math.max(0, t.attempts - 1),
      note,
    });
    this.d.log.info({ trial: trialId, note }, 'research trial back in the queue');
  }

  /** This node's own trial: run through the same worker code; its result needs no re-score. */
  private runLocal(run: RunRow, trialId: string, job: TrialJob, digest: string): void {
    this.enqueueLocal(`run:${run.runId}:${trialId}`, async () => {
      let out: TrialOutcome;
      try {
        out = await this.d.worker.execute(job, this.controller.signal);
      } catch (err) {
        const t = this.d.repo.trial(run.runId, trialId);
        if (t?.jobDigest === digest) {
          const failed = t.attempts >= (this.d.maxAttempts ?? 3);
          this.d.repo.updateTrial(run.runId, trialId, {
            state: failed ? 'failed' : 'queued',
            ...UNASSIGNED,
            note: `local trial failed: ${errorMessage(err)}`,
          });
        }
        return;
      }
      const t = this.d.repo.trial(run.runId, trialId);
      if (t?.state !== 'assigned' || t.jobDigest !== digest) return;
      this.d.repo.updateTrial(run.runId, trialId, {
        state: 'done',
        evalLoss: out.evalLoss,
        testLoss: out.testLoss,
        checkpointSha256: out.checkpointSha256,
        manifestId: out.manifestId,
        seconds: out.seconds,
        tokens: out.tokens,
        verified: 1,
        result: canonicalJson({ ...out, worker: this.d.self.nodeId }),
      });
    });
  }

  private enqueueLocal(key: string, work: () => Promise<void>): void {
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    this.localQueue = this.localQueue
      .then(() => (this.controller.signal.aborted ? undefined : work()))
      .catch((err) => this.d.log.error({ key, err: errorMessage(err) }, 'research local work failed'))
      .finally(() => {
        this.inFlight.delete(key);
        void this.tick();
      });
  }

  /**
   * A worker's signed result (the net guard already checked the caller is a member). Refusals name why:
   * unknown_run, not_assigned (not this caller's trial, or another job of it), refused_worker, or the record's.
   */
  acceptResult(from: string, rec: { kind: string; body: Uint8Array; signature: Uint8Array }): { accepted: boolean; reason: string } {
    if (rec.kind === 'trial-failed') return this.acceptFailure(from, rec);
    let r;
    try {
      r = parseResult(openRecord(rec, 'trial-result', 'worker', from));
    } catch (err) {
      return { accepted: false, reason: err instanceof RecordError ? `${err.reason}: ${err.message}` : errorMessage(err) };
    }
    const run = this.d.repo.run(r.runId);
    if (run?.state !== 'running') return { accepted: false, reason: `unknown_run: no running research run ${r.runId}` };
    if (this.d.repo.refusedWorkers(run.runId).some((w) => w.nodeId === from))
      return { accepted: false, reason: 'refused_worker: an earlier result of this node did not reproduce' };
    const t = this.d.repo.trial(r.runId, r.trialId);
    const current = t?.state === 'assigned' && t.assignee === from && t.jobDigest === r.job;
    // A result under an earlier offer of a trial not done yet: its worker was slow, not wrong; it counts.
    const late =
      !!t &&
      (t.state === 'queued' || t.state === 'assigned') &&
      (JSON.parse(t.priorJobs) as PriorJob[]).some((p) => p.job === r.job && p.worker === from);
    if (!t || (!current && !late))
      return { accepted: false, reason: `not_assigned: trial ${r.trialId} is not assigned to ${from} under this job` };
    this.d.repo.updateTrial(run.runId, t.trialId, {
      state: 'reported',
      assignee: from,
      jobDigest: r.job,
      result: Buffer.from(rec.body).toString('utf8'),
      resultSignature: Buffer.from(rec.signature).toString('hex'),
      evalLoss: r.evalLoss,
      testLoss: r.testLoss,
      checkpointSha256: r.checkpointSha256,
      manifestId: r.manifestId,
      seconds: r.seconds,
      tokens: r.tokens,
      verified: 0,
    });
    setImmediate(() => void this.tick());
    return { accepted: true, reason: '' };
  }

  /**
   * A worker's signed word that it could not finish a trial: back to the queue now (given up after maxAttempts),
   * not at the deadline. Only for the trial it holds under that job: anyone else's word changes nothing.
   */
  private acceptFailure(
    from: string,
    rec: { kind: string; body: Uint8Array; signature: Uint8Array },
  ): { accepted: boolean; reason: string } {
    let f;
    try {
      f = parseFailure(openRecord(rec, 'trial-failed', 'worker', from));
    } catch (err) {
      return { accepted: false, reason: err instanceof RecordError ? `${err.reason}: ${err.message}` : errorMessage(err) };
    }
    const t = this.d.repo.trial(f.runId, f.trialId);
    if (this.d.repo.run(f.runId)?.state !== 'running')
      return { accepted: false, reason: `unknown_run: no running research run ${f.runId}` };
    if (t?.state !== 'assigned' || t.assignee !== from || t.jobDigest !== f.job)
      return { accepted: false, reason: `not_assigned: trial ${f.trialId} is not assigned to ${from} under this job` };
    const failed = t.attempts >= (this.d.maxAttempts ?? 3);
    // Its next attempt goes to another worker first, if there is one.
    this.cooldown.set(from, this.now() + REFUSAL_COOLDOWN_MS);
    this.d.repo.updateTrial(f.runId, f.trialId, {
      state: failed ? 'failed' : 'queued',
      ...UNASSIGNED,
      note: `failed on ${from}: ${f.error.slice(0, 300)}`,
    });
    this.d.log.info({ trial: f.trialId, worker: from, error: f.error, given_up: failed }, 'research trial failed on its worker');
    setImmediate(() => void this.tick());
    return { accepted: true, reason: '' };
  }

  /** Whether a result is re-scored although it does not lead: a share of plan.verify.sampleRate, unpredictable to workers. */
  private sampled(run: RunRow, plan: ResearchPlan, trialId: string): boolean {
    const h = createHash('sha256').update(`${run.secret}:${trialId}`).digest().readUInt32BE(0);
    return h / 2 ** 32 < plan.verify.sampleRate;
  }

  /** Reported results: a sampled one is re-scored, the others count as reported (the phase's winner is checked at close). */
  private checkReported(run: RunRow, plan: ResearchPlan, trials: TrialRow[]): void {
    for (const t of trials) {
      if (t.state !== 'reported') continue;
      if (this.sampled(run, plan, t.trialId)) this.rescore(run, plan, t);
      else this.d.repo.updateTrial(run.runId, t.trialId, { state: 'done', verified: 0 });
    }
  }

  /**
   * Fetches a reported checkpoint from storage and scores it here: a checkpoint of another config, another hash, or
   * an eval loss off by more than plan.verify.tolerance refuses the worker for the run and drops all its results.
   */
  private rescore(run: RunRow, plan: ResearchPlan, t: TrialRow): void {
    this.enqueueLocal(`rescore:${run.runId}:${t.trialId}`, async () => {
      const cur = this.d.repo.trial(run.runId, t.trialId);
      if (!cur || cur.jobDigest !== t.jobDigest || cur.verified === 1) return;
      const worker = cur.assignee as string;
      const started = this.now();
      let score: { eval: number; test: number };
      try {
        score = await checkResult(this.checks, plan, cur);
      } catch (err) {
        if (this.controller.signal.aborted) return; // shutting down: re-scored after the restart
        this.rescores.count++;
        this.rescores.seconds += (this.now() - started) / 1000;
        if (err instanceof Lie) {
          this.rescores.refused++;
          return this.refuseWorker(run.runId, worker, `trial ${t.trialId}: ${err.message}`);
        }
        // Not the worker's fault as far as anyone can tell (storage lost the file, the trainer crashed): run it again.
        this.d.repo.updateTrial(run.runId, t.trialId, {
          state: 'queued',
          ...UNASSIGNED,
          ...NO_RESULT,
          note: `re-score failed, trial rerun: ${errorMessage(err)}`,
        });
        return;
      }
      this.rescores.count++;
      this.rescores.seconds += (this.now() - started) / 1000;
      // From now on the loss that ranks is this node's own score, not the worker's claim.
      this.d.repo.updateTrial(run.runId, t.trialId, { state: 'done', verified: 1, evalLoss: score.eval, testLoss: score.test });
      this.d.log.info({ run: run.runId, trial: t.trialId, worker }, 'research result re-scored: it reproduces');
    });
  }

  /** A worker whose result does not reproduce loses the run: refused from now on, its trials of this phase rerun elsewhere. */
  private refuseWorker(runId: string, worker: string, reason: string): void {
    this.d.repo.tx(() => {
      this.d.repo.refuseWorker(runId, worker, reason);
      const run = this.d.repo.run(runId);
      for (const t of this.d.repo.trials(runId)) {
        if (t.assignee !== worker || t.verified === 1) continue;
        // Every result of the worker this node did not score itself goes: in the phase running it reruns elsewhere;
        // in a closed one it stops counting (ranking, reuse, the designer's history); that phase's winner was checked.
        const current = run?.state === 'running' && run.phaseIndex === t.phaseIndex;
        this.d.repo.updateTrial(runId, t.trialId, {
          state: current ? 'queued' : 'failed',
          ...UNASSIGNED,
          ...NO_RESULT,
          note: `dropped: ${worker} refused`,
        });
      }
    });
    this.d.log.warn({ run: runId, worker, reason }, 'research worker refused: its result does not reproduce');
  }

  /** Done trials by config, mean eval loss over seeds, lowest first. */
  private groups(trials: TrialRow[]): Group[] {
    const by = new Map<string, TrialRow[]>();
    for (const t of trials) {
      if (t.state !== 'done' || t.evalLoss === null) continue;
      by.set(t.configKey, [...(by.get(t.configKey) ?? []), t]);
    }
    return [...by.entries()]
      .map(([key, ts]) => ({
        key,
        config: JSON.parse((ts[0] as TrialRow).config) as TrialConfig,
        evalLoss: ts.reduce((s, t) => s + (t.evalLoss as number), 0) / ts.length,
        trials: ts,
      }))
      .sort((a, b) => a.evalLoss - b.evalLoss);
  }

  private async closePhase(run: RunRow, plan: ResearchPlan, phases: Phase[]): Promise<void> {
    const phase = phases[run.phaseIndex] as Phase;
    const trials = this.d.repo.trials(run.runId, run.phaseIndex);
    const groups = this.groups(trials);
    // The winner counts only once checked: a remote result not re-scored yet is re-scored first (in the final phase
    // the base too, whose test loss the run reports against the winner's).
    const top = groups[0];
    const final = 'final' in phase;
    const base = final ? groups.find((g) => g.key === configKey(plan.base)) : undefined;
    const unchecked = [...(top?.trials ?? []), ...(base?.trials ?? [])].filter((t) => t.verified !== 1);
    if (unchecked.length > 0) {
      for (const t of unchecked) {
        this.d.repo.updateTrial(run.runId, t.trialId, { state: 'reported' });
        this.rescore(run, plan, t);
      }
      return;
    }
    const before = run.bestEval ?? Infinity;
    const phaseBest = top?.evalLoss ?? Infinity;
    // The final phase trains longer: its winner replaces the best whatever the earlier (shorter) losses were.
    const better = final ? Number.isFinite(phaseBest) : phaseBest < before;
    const bestConfig = better && top ? top.config : (JSON.parse(run.bestConfig) as TrialConfig);
    const bestEval = better ? phaseBest : before;
    const history = [...(JSON.parse(run.history) as number[]), final ? phaseBest : bestEval];
    const finding = {
      v: 1,
      kind: 'phase',
      runId: run.runId,
      plan: run.name,
      researcher: this.d.self.nodeId,
      phase: phase.name,
      phaseIndex: run.phaseIndex,
      steps: phaseSteps(plan, phase),
      tried: groups.map((g) => ({
        config: diff(g.config, JSON.parse(run.bestConfig) as TrialConfig),
        evalLoss: round6(g.evalLoss),
        workers: [...new Set(g.trials.map((t) => t.assignee))],
        verified: g.trials.every((t) => t.verified === 1),
      })),
      winner: top ? diff(top.config, JSON.parse(run.bestConfig) as TrialConfig) : null,
      phaseBestEvalLoss: Number.isFinite(phaseBest) ? round6(phaseBest) : null,
      bestEvalLoss: Number.isFinite(bestEval) ? round6(bestEval) : null,
      improvement: Number.isFinite(before) && Number.isFinite(phaseBest) ? round6(improvement(before, phaseBest)) : null,
      failed: trials.filter((t) => t.state === 'failed').map((t) => ({ trial: t.trialId, reason: t.note })),
      refusedWorkers: this.d.repo.refusedWorkers(run.runId),
      at: this.now(),
    };
    let next = run.phaseIndex + 1;
    let nextPhases = phases;
    /** Findings recorded after the phase's own, in the step that moves the run on. */
    const later: object[] = [];
    let proposals = run.proposals;
    const plannedFinal = phases.findIndex((p, i) => i >= next && 'final' in p);
    let stopReason: string | undefined;
    if (!final && converged(history, plan.convergence.patience, plan.convergence.epsilon)) {
      // Algorithm 1's stop: the last `patience` phases each gained less than epsilon; the final validation still runs.
      if (plannedFinal >= 0) next = plannedFinal;
      else stopReason = 'converged';
      later.push({
        v: 1,
        kind: 'converged',
        runId: run.runId,
        researcher: this.d.self.nodeId,
        history: history.map(round6),
        at: this.now(),
      });
    } else if (
      !final &&
      plan.designer &&
      run.phaseIndex > 0 &&
      proposals < plan.designer.maxProposals &&
      next < phases.length &&
      !('final' in (phases[next] as Phase))
    ) {
      proposals++;
      const { phase: proposal, record } = await this.askDesigner(run, plan, bestConfig, bestEval);
      if (this.controller.signal.aborted) return; // shutting down mid-call: the phase closes again after the restart
      later.push(record);
      if (proposal) nextPhases = [...phases.slice(0, next), proposal, ...phases.slice(next)];
    }
    if (next >= nextPhases.length && !stopReason) stopReason = 'plan complete';
    const fresh = this.d.repo.run(run.runId);
    if (fresh?.state !== 'running' || fresh.phaseIndex !== run.phaseIndex) return;
    // The phase's finding and the run's move on go together: a crash before them closes the phase again, once.
    this.d.repo.tx(() => {
      this.record(run.runId, finding);
      for (const f of later) this.record(run.runId, f);
    });
    this.d.repo.updateRun(run.runId, {
      phaseIndex: Math.min(next, nextPhases.length - 1),
      phases: JSON.stringify(nextPhases),
      bestConfig: JSON.stringify(bestConfig),
      bestEval: Number.isFinite(bestEval) ? bestEval : null,
      history: JSON.stringify(history),
      proposals,
    });
    this.d.log.info(
      { run: run.runId, phase: phase.name, phaseBest, bestEval, next: nextPhases[next]?.name ?? null },
      'research phase closed',
    );
    if (stopReason) await this.finish(this.d.repo.run(run.runId) as RunRow, plan, stopReason);
  }

  private async askDesigner(
    run: RunRow,
    plan: ResearchPlan,
    best: TrialConfig,
    bestEval: number,
  ): Promise<{ phase: Phase | undefined; record: object }> {
    const designer = plan.designer as NonNullable<ResearchPlan['designer']>;
    const all = this.d.repo.trials(run.runId);
    const phases = JSON.parse(run.phases) as Phase[];
    const history = phases.slice(0, run.phaseIndex + 1).map((p, i) => ({
      phase: p.name,
      trials: this.groups(all.filter((t) => t.phaseIndex === i)).map((g) => ({ config: g.config, evalLoss: g.evalLoss })),
    }));
    // This run's findings and those imported from other research nodes, newest last.
    const insights = this.d.repo
      .findings()
      .map((f) => f.body)
      .slice(-8);
    const p = await proposePhase(
      designer,
      { plan, best, bestEvalLoss: bestEval, history, insights },
      { env: this.d.env, signal: this.controller.signal },
    );
    const body = p.ok
      ? {
          v: 1,
          kind: 'proposal',
          runId: run.runId,
          researcher: this.d.self.nodeId,
          accepted: true,
          phase: p.phase,
          why: p.why,
          at: this.now(),
        }
      : { v: 1, kind: 'proposal', runId: run.runId, researcher: this.d.self.nodeId, accepted: false, reason: p.reason, at: this.now() };
    if (!p.ok) this.d.log.warn({ run: run.runId, reason: p.reason }, 'designer proposal refused; the plan goes on with its own phases');
    else this.d.log.info({ run: run.runId, phase: p.phase.name, why: p.why }, 'designer proposal accepted');
    return { phase: p.ok ? { ...p.phase, name: `designer: ${p.phase.name}` } : undefined, record: body };
  }

  /** A signed finding in the knowledge base: kept in SQLite at once, stored as a blob in the network's storage after. */
  private record(runId: string, body: object): void {
    const rec = signRecord('finding', body, (dg) => this.d.signer.sign(dg));
    const seq = this.d.repo.addFinding(runId, (body as { kind: string }).kind, rec.body.toString('utf8'), rec.signature.toString('hex'));
    void this.storeFinding(runId, seq, rec.body, rec.signature);
  }

  private async storeFinding(runId: string, seq: number, body: Buffer, signature: Buffer): Promise<void> {
    try {
      await mkdir(this.d.dir, { recursive: true });
      const file = join(this.d.dir, `finding-${runId}-${seq}.json`);
      const { writeFile } = await import('node:fs/promises');
      await writeFile(file, JSON.stringify({ kind: 'finding', body: body.toString('utf8'), signature: signature.toString('hex') }));
      try {
        const { manifestId } = await this.d.storage.put(file, 'research');
        this.d.repo.setFindingManifest(runId, seq, manifestId);
      } finally {
        await rm(file, { force: true });
      }
    } catch (err) {
      this.d.log.warn({ run: runId, seq, err: errorMessage(err) }, 'finding not stored in the network (kept locally)');
    }
  }

  /**
   * Ends the run with its result: the base's and the winner's held-out test losses (a set never used for selection),
   * both from this node's own scoring (trained here, or re-scored here before they counted).
   */
  private async finish(run: RunRow, plan: ResearchPlan, reason: string): Promise<void> {
    const all = this.d.repo.trials(run.runId);
    const best = JSON.parse(run.bestConfig) as TrialConfig;
    const longest = Math.max(...all.filter((t) => t.state === 'done').map((t) => t.steps), 0);
    const pick = (key: string) =>
      all
        .filter((t) => t.state === 'done' && t.verified === 1 && t.configKey === key && t.steps === longest)
        .sort((a, b) => (a.evalLoss as number) - (b.evalLoss as number))[0];
    const base = pick(configKey(plan.base));
    const win = pick(configKey(best));
    const summary = {
      v: 1,
      kind: 'result',
      runId: run.runId,
      plan: run.name,
      researcher: this.d.self.nodeId,
      reason,
      steps: longest,
      best: diff(best, plan.base),
      base: base ? { evalLoss: round6(base.evalLoss as number), testLoss: base.testLoss === null ? null : round6(base.testLoss) } : null,
      winner: win ? { evalLoss: round6(win.evalLoss as number), testLoss: win.testLoss === null ? null : round6(win.testLoss) } : null,
      testImprovement: base?.testLoss && win?.testLoss ? round6(improvement(base.testLoss, win.testLoss)) : null,
      trials: all.filter((t) => !(t.note ?? '').startsWith('reused')).length,
      at: this.now(),
    };
    this.record(run.runId, summary);
    this.d.repo.updateRun(run.runId, { state: 'done', stopReason: reason });
    this.d.log.info({ run: run.runId, reason, testImprovement: summary.testImprovement }, 'research run finished');
  }
}

/** The keys of `c` that differ from `from` (a finding names what changed, not the whole config). */
export function diff(c: TrialConfig, from: TrialConfig): Record<string, unknown> {
  const a = resolveConfig(c) as Record<string, unknown>;
  const b = resolveConfig(from) as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(a)
      .filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]))
      .map((k) => [k, a[k]]),
  );
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
