import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { StateDb } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { errorMessage } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import { removeOutput } from './checkpoint-store.js';
import { RoundCoordinator } from './coordinator.js';
import { dilocoMetrics } from './metrics.js';
import type { ContributionSink, ReceiptExchange, RoundMembers, RoundNetwork, RoundSigner, RoundStorage } from './ports.js';
import { type DilocoOptions, TrainerJobs } from './trainer-jobs.js';

/** Whoever serves the model (the serve part): gets each new merged model as a ternary GGUF file. */
export interface ModelSink {
  /** False while this node does not serve (role, native kernels missing): nothing is exported then. */
  readonly serving: boolean;
  swapModel(ggufPath: string, meta: { round: number; sha256?: string }): Promise<void>;
}

export interface DilocoPartDeps {
  options: DilocoOptions;
  self: { nodeId: string; address: string; roles: string[] };
  home: string;
  db: StateDb;
  log: Logger;
  metrics: Metrics;
  network: RoundNetwork;
  storage: RoundStorage;
  /** Who the members are: only they train, lead and vote; their votes certify outcomes. */
  members: RoundMembers;
  /** This node's wallet, for its round statements. */
  signer: RoundSigner;
  contributions: ContributionSink;
  /** Leader-signed contribution receipts carried in round outcomes (the chain part). */
  receipts?: ReceiptExchange;
  /** Set when this node serves: every merged checkpoint is exported to GGUF and handed over. */
  models?: ModelSink;
  env?: NodeJS.ProcessEnv;
  /** The node's shutdown signal: it reaches the round loop and every trainer job. */
  signal?: AbortSignal;
}

const KEEP_EXPORTS = 2;

/**
 * The DiLoCo part: a round coordinator driving the PyTorch trainer subprocess, plus the serving hook that turns
 * each new `latest` checkpoint into a GGUF the serve part loads. Exports run one at a time; a newer round
 * supersedes a queued one.
 */
export class DilocoPart implements Startable {
  readonly coordinator: RoundCoordinator;
  private readonly jobs: TrainerJobs;
  private readonly log: Logger;
  private readonly modelDir: string;
  private exporting: Promise<void> | undefined;
  private queued: { path: string; sha256: string; round: number } | undefined;
  private lastExport: { round: number; sha256: string; file: string; seconds: number } | { round: number; error: string } | undefined;

  constructor(private readonly d: DilocoPartDeps) {
    this.log = d.log;
    const m = dilocoMetrics(d.metrics);
    this.jobs = new TrainerJobs(
      d.options,
      d.log,
      d.env ?? process.env,
      (e) => {
        if (e.event !== 'progress' || typeof e['step'] !== 'number') return;
        m.trainStep.set(e['step']);
        if (typeof e['loss'] === 'number') m.trainLoss.set(e['loss']);
        if (typeof e['tokens_per_s'] === 'number') m.trainTokensPerSecond.set(e['tokens_per_s']);
      },
      d.signal,
    );
    this.modelDir = join(d.home, 'models');
    this.coordinator = new RoundCoordinator(d.options, {
      self: d.self,
      home: d.home,
      db: d.db,
      log: d.log,
      metrics: m,
      network: d.network,
      storage: d.storage,
      members: d.members,
      signer: d.signer,
      contributions: d.contributions,
      ...(d.receipts ? { receipts: d.receipts } : {}),
      jobs: this.jobs,
      ...(d.signal ? { signal: d.signal } : {}),
      ...(d.models ? { onLatest: (path: string, sha256: string, round: number) => this.exportLatest({ path, sha256, round }) } : {}),
    });
  }

  async start(): Promise<void> {
    await this.coordinator.start();
    const latest = this.coordinator.status()['latest'] as { sha256: string; round: number } | null;
    // A restarted serving node serves its latest checkpoint again.
    if (latest && latest.round >= 0)
      this.exportLatest({ path: join(this.d.home, 'checkpoints', `${latest.sha256}.safetensors`), ...latest });
    this.log.info(
      { enabled: this.d.options.enabled, roles: this.d.self.roles, preset: this.d.options.preset, innerSteps: this.d.options.innerSteps },
      'diloco started',
    );
  }

  async stop(): Promise<void> {
    this.queued = undefined;
    await this.coordinator.stop();
    await this.exporting?.catch(() => undefined);
    this.jobs.close();
  }

  status(): Record<string, unknown> {
    return { ...this.coordinator.status(), lastExport: this.lastExport ?? null };
  }

  private exportLatest(c: { path: string; sha256: string; round: number }): void {
    if (!this.d.models?.serving) return;
    this.queued = c;
    if (!this.exporting) this.exporting = this.drainExports().finally(() => (this.exporting = undefined));
  }

  private async drainExports(): Promise<void> {
    for (let c = this.queued; c; c = this.queued) {
      this.queued = undefined;
      const t0 = Date.now();
      mkdirSync(this.modelDir, { recursive: true });
      const file = join(this.modelDir, `round-${c.round}-${c.sha256.slice(0, 16)}.gguf`);
      const tmp = `${file}.tmp`;
      try {
        await this.jobs.export(c.path, tmp);
        renameSync(tmp, file);
        await this.d.models?.swapModel(file, { round: c.round, sha256: c.sha256 });
        this.lastExport = { round: c.round, sha256: c.sha256, file, seconds: (Date.now() - t0) / 1000 };
        this.log.info(this.lastExport, 'merged model exported and handed to the serve part');
        this.pruneExports(file);
      } catch (err) {
        removeOutput(tmp);
        if (this.d.signal?.aborted) return; // cut by the shutdown; exported again on the next start
        this.lastExport = { round: c.round, error: errorMessage(err) };
        this.log.error(
          { round: c.round, err: errorMessage(err) },
          'exporting the merged model for serving failed; the previous model keeps serving',
        );
      }
    }
  }

  /** Keeps the newest exports (the one just loaded and its predecessor, which may still answer requests). */
  private pruneExports(current: string): void {
    const files = readdirSync(this.modelDir)
      .filter((f) => f.endsWith('.gguf'))
      .map((f) => ({ f, round: Number(/^round-(\d+)-/.exec(f)?.[1] ?? -1) }))
      .sort((a, b) => b.round - a.round);
    for (const { f } of files.slice(KEEP_EXPORTS)) if (join(this.modelDir, f) !== current) rmSync(join(this.modelDir, f), { force: true });
  }
}
