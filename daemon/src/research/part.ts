import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Values } from '../config/schema.js';
import type { StateDb } from '../db/database.js';
import { TrainerWorker } from '../diloco/trainer-worker.js';
import type { Logger } from '../log/logger.js';
import { ConfigError, errorMessage, MagnetError } from '../util/errors.js';
import { builtinPlan } from './builtin-plan.js';
import { resolveConfig, type TrialConfig } from './hparams.js';
import type { researchOptions } from './options.js';
import { type Phase, parsePlan, planHash, type ResearchPlan } from './plan.js';
import { TrialCredits } from './credits.js';
import type { CreditBook, ResearchAck, ResearchPeers, ResearchSigner, ResearchStorage, TrainerCall } from './ports.js';
import { MAX_RECORD_BYTES, openRecord, RecordError } from './records.js';
import { ResearchRepo, type RunRow, type TrialRow } from './research-repo.js';
import { diff, ResearchRunner } from './runner.js';
import { TrialWorker } from './worker.js';

export type ResearchOptions = Values<typeof researchOptions>;

/** A research trainer process idle this long is closed (the next trial starts another). */
const TRAINER_IDLE_MS = 120_000;

export interface ResearchPartDeps {
  options: ResearchOptions;
  self: { nodeId: string; roles: readonly string[] };
  /** The trainer interpreter (diloco.python; empty: the repository's .venv). */
  python: string;
  /** The network's own training data (diloco.data): the one path a trial job may name besides generated and stdlib. */
  networkData: string;
  db: StateDb;
  dir: string;
  log: Logger;
  peers: ResearchPeers;
  storage: ResearchStorage;
  signer: ResearchSigner;
  /** The chain part's contributions and receipts: trials run for others become claims. */
  credits: CreditBook;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/**
 * The research part: every trainer node runs trials members offer it (TrialWorker); a node told to `research start`
 * leads a plan (ResearchRunner), ticking every research.tickSeconds. The net part hands it the two research RPCs.
 */
export class ResearchPart {
  readonly repo: ResearchRepo;
  readonly worker: TrialWorker;
  readonly runner: ResearchRunner;
  readonly credits: TrialCredits;
  private timer: NodeJS.Timeout | undefined;
  private readonly trainer: TrainerCall;
  private python: TrainerWorker | undefined;
  private active = 0;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly d: ResearchPartDeps) {
    this.repo = new ResearchRepo(d.db);
    const threads = d.options.trialThreads > 0 ? ['--threads', String(d.options.trialThreads)] : [];
    this.trainer = async (args, signal) => {
      const withThreads = args[0] === 'trial' || args[0] === 'trial-score' ? [...args, ...threads] : args;
      // One long-lived trainer while trials come (torch and the token stream load once, not per trial: seconds
      // each), closed when idle so a node that runs no research holds no Python process.
      if (this.idle) clearTimeout(this.idle);
      this.active++;
      this.python ??= new TrainerWorker({ env: d.env, log: d.log, python: d.python });
      try {
        return (await this.python.run(withThreads, signal ? { signal } : {})) as Record<string, unknown>;
      } finally {
        if (--this.active === 0) {
          this.idle = setTimeout(() => this.closePython(), TRAINER_IDLE_MS);
          this.idle.unref();
        }
      }
    };
    const trialsDir = join(d.dir, 'trials');
    this.worker = new TrialWorker({
      self: d.self,
      acceptTrials: d.options.acceptTrials,
      maxTrialSteps: d.options.maxTrialSteps,
      maxTrialParams: d.options.maxTrialParams,
      maxTrialTokens: d.options.maxTrialTokens,
      maxTrialSeconds: d.options.maxTrialSeconds,
      allowedData: ['generated', 'stdlib', ...(d.networkData ? [d.networkData] : [])],
      repo: this.repo,
      peers: d.peers,
      storage: d.storage,
      trainer: this.trainer,
      signer: d.signer,
      dir: trialsDir,
      log: d.log,
      ...(d.signal ? { signal: d.signal } : {}),
    });
    this.runner = new ResearchRunner({
      self: d.self,
      trainsItself: d.options.acceptTrials && d.self.roles.includes('trainer'),
      repo: this.repo,
      peers: d.peers,
      storage: d.storage,
      trainer: this.trainer,
      worker: this.worker,
      signer: d.signer,
      dir: join(d.dir, 'work'),
      log: d.log,
      env: d.env,
    });
    this.credits = new TrialCredits({ self: d.self, repo: this.repo, peers: d.peers, signer: d.signer, book: d.credits, log: d.log });
  }

  async start(): Promise<void> {
    await mkdir(this.d.dir, { recursive: true });
    this.runner.recover();
    this.repo.interruptServed();
    this.timer = setInterval(() => void this.runner.tick().then(() => this.credits.tick()), this.d.options.tickSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.runner.stop();
    this.closePython();
  }

  private closePython(): void {
    if (this.idle) clearTimeout(this.idle);
    this.python?.close();
    this.python = undefined;
  }

  /** The net part's research handlers (the caller is an authenticated member). */
  handlers(): {
    offerTrial: (from: string, m: WireRecord) => Promise<ResearchAck>;
    reportTrial: (from: string, m: WireRecord) => Promise<ResearchAck>;
    creditTrials: (from: string, m: WireRecord) => Promise<ResearchAck>;
  } {
    return {
      offerTrial: async (from, m) => this.worker.offer(from, m),
      reportTrial: async (from, m) => this.runner.acceptResult(from, m),
      creditTrials: (from, m) => this.credits.accept(from, m),
    };
  }

  /** `research start`: a plan's text (checked here, one line naming what is wrong) or a built-in plan's name. */
  startPlan(input: { plan?: string; builtin?: string; where?: string }): RunRow {
    let plan: ResearchPlan;
    if (input.builtin !== undefined) plan = builtinPlan(input.builtin);
    else if (input.plan !== undefined) plan = parsePlan(input.plan, input.where ?? 'plan');
    else throw new ConfigError('research start needs a plan (its JSON text) or the name of a built-in plan');
    const row = this.runner.start(plan, planHash(plan));
    void this.runner.tick();
    return row;
  }

  status(): Record<string, unknown> {
    const run = this.repo.current();
    const served = this.repo.servedCounts();
    const credits = this.repo.creditCounts();
    if (!run) return { run: null, trialsRunForOthers: served, rescores: this.runner.rescores, credits };
    const trials = this.repo.trials(run.runId);
    const phases = JSON.parse(run.phases) as Phase[];
    const count = (s: string) => trials.filter((t) => t.state === s).length;
    return {
      run: {
        runId: run.runId,
        plan: run.name,
        state: run.state,
        stopReason: run.stopReason,
        phase: phases[run.phaseIndex]?.name ?? null,
        phaseIndex: run.phaseIndex,
        phases: phases.length,
        bestEvalLoss: run.bestEval,
        trials: {
          total: trials.length,
          queued: count('queued'),
          assigned: count('assigned'),
          reported: count('reported'),
          done: count('done'),
          failed: count('failed'),
        },
        refusedWorkers: this.repo.refusedWorkers(run.runId),
      },
      trialsRunForOthers: served,
      rescores: this.runner.rescores,
      // Trials other nodes ran for this node's runs: their receipts, by state (research-repo.ts CreditState).
      credits,
    };
  }

  /** The knowledge base: every signed finding (this node's runs), newest run last. */
  insights(runId?: string): { runId: string; seq: number; kind: string; body: unknown; signature: string; manifestId: string | null }[] {
    return this.repo.findings(runId).map((f) => ({ ...f, body: JSON.parse(f.body) as unknown }));
  }

  /**
   * Reads another research node's finding from the network's storage (its manifest id, as `research insights --json`
   * shows it), checks its signature and keeps it beside this node's own: the designer reads both.
   */
  async importFinding(manifestId: string): Promise<{ runId: string; kind: string; researcher: string; added: boolean }> {
    if (!/^[A-Za-z0-9._:-]{1,200}$/.test(manifestId))
      throw new ConfigError(`manifest id ${JSON.stringify(manifestId.slice(0, 80))} is not valid`);
    const dir = join(this.d.dir, 'work');
    await mkdir(dir, { recursive: true });
    const file = join(dir, `import-${process.pid}-${randomBytes(4).toString('hex')}.json`);
    try {
      await this.d.storage.get(manifestId, file);
      const { size } = await stat(file);
      if (size > 2 * MAX_RECORD_BYTES)
        throw new MagnetError('ERR_BAD_FINDING', `blob ${manifestId} is ${size} bytes: no finding is that large`);
      let rec: { kind?: unknown; body?: unknown; signature?: unknown };
      try {
        rec = JSON.parse(await readFile(file, 'utf8')) as typeof rec;
      } catch {
        throw new MagnetError('ERR_BAD_FINDING', `blob ${manifestId} is not a finding (not JSON)`);
      }
      if (
        rec.kind !== 'finding' ||
        typeof rec.body !== 'string' ||
        typeof rec.signature !== 'string' ||
        !/^[0-9a-f]{130}$/.test(rec.signature)
      )
        throw new MagnetError('ERR_BAD_FINDING', `blob ${manifestId} is not a finding record`);
      let body: Record<string, unknown>;
      try {
        body = openRecord(
          { kind: 'finding', body: Buffer.from(rec.body, 'utf8'), signature: Buffer.from(rec.signature, 'hex') },
          'finding',
          'researcher',
        );
      } catch (err) {
        const label = err instanceof RecordError ? `${err.reason}: ` : '';
        throw new MagnetError('ERR_BAD_FINDING', `blob ${manifestId}: ${label}${errorMessage(err)}`);
      }
      const runId = typeof body['runId'] === 'string' ? body['runId'].slice(0, 80) : 'unknown';
      const kind = typeof body['kind'] === 'string' ? body['kind'].slice(0, 40) : 'finding';
      const added = !this.repo.findings(runId).some((f) => f.signature === rec.signature);
      if (added) {
        const seq = this.repo.addFinding(runId, kind, rec.body, rec.signature);
        this.repo.setFindingManifest(runId, seq, manifestId);
      }
      return { runId, kind, researcher: String(body['researcher']), added };
    } finally {
      await rm(file, { force: true });
    }
  }

  /** The phase table of a run (the current one by default): per phase its configs, best eval loss and winner. */
  report(runId?: string): Record<string, unknown> {
    const run = runId ? this.repo.run(runId) : this.repo.current();
    if (!run) throw new MagnetError('ERR_NO_RESEARCH', 'no research run on this node (start one with: magnet-node research start)');
    const plan = JSON.parse(run.plan) as ResearchPlan;
    const phases = JSON.parse(run.phases) as Phase[];
    const trials = this.repo.trials(run.runId);
    const base = plan.base;
    const rows = phases.map((p, i) => {
      const ts = trials.filter((t) => t.phaseIndex === i);
      const done = ts.filter((t) => t.state === 'done' && t.evalLoss !== null);
      const best = done.sort((a, b) => (a.evalLoss as number) - (b.evalLoss as number))[0];
      return {
        name: p.name,
        steps: ts[0]?.steps ?? null,
        configs: new Set(ts.map((t) => t.configKey)).size,
        best_eval_loss: best?.evalLoss ?? null,
        winner: best ? diff(JSON.parse(best.config) as TrialConfig, base) : null,
        trials: ts.map((t) => trialView(t)),
      };
    });
    const summary = this.repo
      .findings(run.runId)
      .filter((f) => f.kind === 'result')
      .map((f) => JSON.parse(f.body) as Record<string, unknown>)
      // Only this node's own: a finding imported from another node may name any run id.
      .filter((b) => b['researcher'] === this.d.self.nodeId)
      .at(-1);
    return {
      runId: run.runId,
      name: run.name,
      state: run.state,
      stopReason: run.stopReason,
      data: plan.data,
      budgetSteps: plan.budget.steps,
      base_eval_loss: rows[0]?.best_eval_loss ?? null,
      best: {
        config: resolveConfig(JSON.parse(run.bestConfig) as TrialConfig),
        change: diff(JSON.parse(run.bestConfig) as TrialConfig, base),
        evalLoss: run.bestEval,
      },
      result: summary ?? null,
      phases: rows,
    };
  }

  /** The report's plot (paper Figure 4: best validation loss per phase) as PNG bytes, drawn by the trainer. */
  async plot(runId?: string): Promise<Buffer> {
    const report = this.report(runId);
    const dir = join(this.d.dir, 'work');
    await mkdir(dir, { recursive: true });
    // Two plots asked at once (two `research report` calls) each draw their own files.
    const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
    const src = join(dir, `report-${tag}.json`);
    const out = join(dir, `report-${tag}.png`);
    try {
      await writeFile(src, JSON.stringify(report));
      await this.trainer(['research-plot', '--report', src, '--out', out]);
      return await readFile(out);
    } finally {
      await rm(src, { force: true });
      await rm(out, { force: true });
    }
  }
}

type WireRecord = { kind: string; body: Uint8Array; signature: Uint8Array };

function trialView(t: TrialRow): Record<string, unknown> {
  return {
    trial: t.trialId,
    state: t.state,
    seed: t.seed,
    steps: t.steps,
    worker: t.assignee,
    eval_loss: t.evalLoss,
    test_loss: t.testLoss,
    verified: t.verified === 1,
    seconds: t.seconds,
    note: t.note,
  };
}
