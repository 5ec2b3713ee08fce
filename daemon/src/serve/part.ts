import type { Route } from '../api/routes.js';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import type { ServePartOptions } from './options.js';
import { ServeService } from './service.js';

export interface ServePartDeps {
  options: ServePartOptions;
  /** The node's roles: with `enabled: auto` the part serves when they include `server`. */
  roles: readonly string[];
  log: Logger;
}

interface SwapRecord {
  round: number;
  sha256: string | null;
  path: string;
  at: string;
}

/**
 * The node's serving part: the OpenAI-compatible routes and the model they answer with. The DiLoCo part calls
 * `swapModel` after every merged round; the new model takes new requests once it is loaded, requests in flight
 * finish on the old one, and a file that fails to load leaves the old model serving.
 */
export class ServePart implements Startable {
  readonly service: ServeService;
  private readonly wanted: boolean;
  private unavailable: string | undefined;
  private started = false;
  private lastSwap: (SwapRecord & { ms: number }) | undefined;
  private lastSwapError: (SwapRecord & { error: string }) | undefined;
  private skipped = 0;

  constructor(private readonly d: ServePartDeps) {
    const o = d.options;
    this.wanted = o.enabled === 'on' || (o.enabled === 'auto' && d.roles.includes('server'));
    this.service = new ServeService(
      {
        ...(o.model ? { modelPath: o.model } : {}),
        modelId: o.modelId,
        ...(o.threads > 0 ? { threads: o.threads } : {}),
        ...(o.contextLength > 0 ? { contextLength: o.contextLength } : {}),
        maxConcurrent: o.maxConcurrent,
        maxQueue: o.maxQueue,
        headInt8: o.headInt8,
        kvInt8: o.kvInt8,
        defaultMaxTokens: o.defaultMaxTokens,
        addon: o.addon,
        ...(o.kvCacheBytes > 0 ? { kvCacheBytes: o.kvCacheBytes } : {}),
      },
      d.log,
    );
  }

  /** True once started with the native kernels ready (a model may still be missing until the first swap). */
  get serving(): boolean {
    return this.started && this.wanted && this.unavailable === undefined;
  }

  async start(): Promise<void> {
    if (this.started) return;
    if (!this.wanted)
      this.service.notServing(`serving is off here (serve.enabled ${this.d.options.enabled}, roles: ${this.d.roles.join(', ') || 'none'})`);
    if (this.wanted) {
      try {
        await this.service.start();
      } catch (err) {
        // `on` (or a configured model that does not load) is an operator's explicit wish: fail loudly. Under `auto`
        // a machine without the addon, or whose kernels fail the self-test, runs the node without serving.
        const code = err instanceof MagnetError ? err.code : '';
        if (this.d.options.enabled === 'on' || code === 'ERR_MODEL_LOAD') throw err;
        this.unavailable = errorMessage(err);
        this.service.notServing(this.unavailable);
        this.d.log.warn({ err: this.unavailable }, 'serving unavailable on this node; the rest of the node runs');
      }
    }
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.service.stop();
  }

  /**
   * Loads `ggufPath` and switches to it atomically. `meta.sha256` (the merged checkpoint's hash) must match the
   * file's `magnet.checkpoint_sha256` when both are set. Rejects (ERR_MODEL_LOAD / ERR_MODEL_MISMATCH) with the old
   * model still serving. On a node that does not serve it records the round and resolves.
   */
  async swapModel(ggufPath: string, meta: { round: number; sha256?: string }): Promise<void> {
    const rec: SwapRecord = { round: meta.round, sha256: meta.sha256 ?? null, path: ggufPath, at: new Date().toISOString() };
    if (!this.serving) {
      this.skipped++;
      this.d.log.debug({ ...rec, why: this.unavailable ?? 'serving is off' }, 'merged model not loaded: this node does not serve');
      return;
    }
    const t0 = Date.now();
    try {
      await this.service.load(ggufPath, undefined, (info) =>
        meta.sha256 && info.checkpointSha256 && info.checkpointSha256 !== meta.sha256
          ? `the file is checkpoint ${info.checkpointSha256} (key magnet.checkpoint_sha256), expected ${meta.sha256} of round ${meta.round}`
          : undefined,
      );
      this.lastSwap = { ...rec, ms: Date.now() - t0 };
      this.d.log.info(this.lastSwap, 'serving the merged model');
    } catch (err) {
      this.lastSwapError = { ...rec, error: errorMessage(err) };
      throw err;
    }
  }

  routes(): Route[] {
    return this.service.routes();
  }

  status(): Record<string, unknown> {
    return {
      enabled: this.d.options.enabled,
      serving: this.serving,
      ...(this.unavailable ? { unavailable: this.unavailable } : {}),
      ...(this.serving ? this.service.status() : {}),
      lastSwap: this.lastSwap ?? null,
      lastSwapError: this.lastSwapError ?? null,
      skippedSwaps: this.skipped,
    };
  }
}
