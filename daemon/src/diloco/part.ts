import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { StateDb } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import { removeOutput } from './checkpoint-store.js';
import { RoundCoordinator } from './coordinator.js';
import { trainDevices } from './devices.js';
import type { RoundLoss } from './loss-history.js';
import { dilocoMetrics } from './metrics.js';
import { trainerPython } from './trainer-runner.js';
import type { ContributionSink, ReceiptExchange, RoundMembers, RoundNetwork, RoundSigner, RoundStorage } from './ports.js';
import { type DataSlice, type DilocoOptions, TrainerJobs } from './trainer-jobs.js';

/** Whoever serves the model (the serve part): gets each new merged model as a ternary GGUF file. */
export interface ModelSink {
  /** False while this node does not serve (role, native kernels missing): nothing is exported then. */
  readonly serving: boolean;
  swapModel(ggufPath: string, meta: { round: number; sha256?: string }): Promise<void>;
}

export interface DilocoPartDeps {
  options: DilocoOptions;
  /** The slice of the network's data this node trains on. */
  dataSlice: DataSlice;
  /** Usable NVIDIA GPUs (hardware profile, CUDA_VISIBLE_DEVICES): diloco.devices 0 trains on all of them at once. */
  gpus?: number;
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

/** The manifest id of a `blob:<id>` data source (text stored in the network's storage), if it is one. */
export function blobDataId(data: string): string | undefined {
  return /^blob:([0-9a-f]{64})$/.exec(data)?.[1];
}

/** Data sources the trainer makes itself (python/magnet_trainer/data.py BUILTIN). */
const BUILTIN_DATA = ['stdlib', 'generated'];

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
  /** Why rounds cannot run here (no trainer), when they cannot. */
  private unavailable: string | undefined;
  /** Where a `blob:<id>` data source lands; the rounds start once it is there. */
  private readonly dataFile: string | undefined;
  private dataWait: string | undefined;
  private queued: { path: string; sha256: string; round: number } | undefined;
  private lastExport: { round: number; sha256: string; file: string; seconds: number } | { round: number; error: string } | undefined;

  constructor(private readonly d: DilocoPartDeps) {
    this.log = d.log;
    const m = dilocoMetrics(d.metrics);
    // The trainer runs in python/: a relative data path means the operator's working directory, not that one. A blob
    // in the network's storage is fetched (hash-checked) into the home before the rounds start.
    const blob = blobDataId(d.options.data);
    this.dataFile = blob ? join(d.home, 'data', `${blob}.txt`) : undefined;
    const data = this.dataFile ?? (BUILTIN_DATA.includes(d.options.data) ? d.options.data : resolve(d.options.data));
    // One trainer process per GPU (torchrun) when there are several; a bad diloco.devices stops the start here.
    const devices = d.options.enabled ? trainDevices(d.options.devices, d.gpus ?? 0, d.options.batch) : 1;
    if (devices > 1) d.log.info({ devices, batchPerDevice: d.options.batch / devices }, 'training data parallel');
    const options = { ...d.options, data, devices };
    this.jobs = new TrainerJobs(
      options,
      d.log,
      d.env ?? process.env,
      d.dataSlice,
      (e) => {
        if (e.event !== 'progress' || typeof e['step'] !== 'number') return;
        m.trainStep.set(e['step']);
        if (typeof e['loss'] === 'number') m.trainLoss.set(e['loss']);
        if (typeof e['tokens_per_s'] === 'number') m.trainTokensPerSecond.set(e['tokens_per_s']);
      },
      d.signal,
    );
    this.modelDir = join(d.home, 'models');
    this.coordinator = new RoundCoordinator(options, {
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
    const data = this.d.options.data;
    // Said now, not at the first round's training step minutes later.
    if (this.d.options.enabled && !this.dataFile && !BUILTIN_DATA.includes(data) && !existsSync(resolve(data)))
      throw new ConfigError(
        `diloco.data: the training data ${resolve(data)} does not exist (a text file, a directory, a uint16 token file, or one of ${BUILTIN_DATA.join(', ')})`,
        { key: 'diloco.data' },
      );
    if (this.d.options.enabled) {
      try {
        trainerPython(this.d.options.python);
      } catch (err) {
        // Said once with its fix, instead of a failed round step every second.
        this.unavailable = errorMessage(err);
        this.log.error({ err: this.unavailable }, 'DiLoCo rounds are off on this node: no trainer to run them; the rest of the node runs');
        return;
      }
    }
    if (this.dataFile && !existsSync(this.dataFile)) {
      void this.fetchData(this.dataFile); // the rounds start when it is here
      return;
    }
    await this.startRounds();
  }

  /**
   * Fetches a `blob:<id>` data source from the network's storage (every shard and the whole blob hash-checked),
   * retrying until a holder answers, then starts the rounds.
   */
  private async fetchData(file: string): Promise<void> {
    const id = blobDataId(this.d.options.data) as string;
    mkdirSync(join(this.d.home, 'data'), { recursive: true });
    for (let wait = 2_000; !this.d.signal?.aborted; wait = Math.min(wait * 2, 60_000)) {
      this.dataWait = `fetching the training data blob ${id} from the network's storage`;
      try {
        await this.d.storage.get(id, file);
        this.dataWait = undefined;
        this.log.info({ blob: id, file }, 'training data fetched from storage');
        return await this.startRounds();
      } catch (err) {
        this.dataWait = `the training data blob ${id} is not reachable yet: ${errorMessage(err)}`;
        this.log.warn({ blob: id, retryInSeconds: wait / 1000, err: errorMessage(err) }, 'training data not fetched yet; the rounds wait');
      }
      await new Promise((r) => setTimeout(r, wait).unref());
    }
  }

  private async startRounds(): Promise<void> {
    if (this.d.signal?.aborted) return;
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

  /** The held-out loss of each merge this node judged, oldest first (the dashboard's loss curve). */
  lossHistory(limit?: number): RoundLoss[] {
    return this.coordinator.lossHistory(limit);
  }

  status(): Record<string, unknown> {
    return {
      ...this.coordinator.status(),
      ...(this.unavailable ? { unavailable: this.unavailable } : {}),
      ...(this.dataWait ? { waitingForData: this.dataWait } : {}),
      lastExport: this.lastExport ?? null,
    };
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
