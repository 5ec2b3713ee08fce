import { basename } from 'node:path';
import type { Route } from '../api/routes.js';
import type { Logger } from '../log/logger.js';
import { MagnetError } from '../util/errors.js';
import type { Startable } from '../util/lifecycle.js';
import { ApiError } from './errors.js';
import type { GenerateArgs, GenerateResult, LoadedModel, ModelServer } from './generation.js';
import { type KernelInfo, type NativeModelInfo, kernelInfo, loadAddon, runGeneration } from './native.js';
import { DEFAULT_MAX_TOKENS } from './request.js';
import { serveRoutes } from './routes.js';
import { loadServedModel } from './served-model.js';

export interface ServeOptions {
  /** GGUF to load at start (optional: `load()` can come later, e.g. after the first merge). */
  modelPath?: string;
  /** Name answered in /v1/models; default: the file name without .gguf. */
  modelId?: string;
  threads?: number;
  /** Requests decoded together (one batch); more wait in the queue. */
  maxConcurrent: number;
  /** Requests allowed to wait; beyond that the API answers 429. */
  maxQueue: number;
  headInt8: boolean;
  kvInt8: boolean;
  contextLength?: number;
  /** Bytes for the KV caches of all running requests together (default: a quarter of physical memory). */
  kvCacheBytes?: number;
  /** Tokens generated for a request that names no max_tokens (not the whole context: one request, one CPU for long). */
  defaultMaxTokens?: number;
  /** Native addon file (serve.addon); empty or absent: the one built in this package. */
  addon?: string;
}

/** One finished generation, as the request log and the metrics see it. */
export interface RequestRecord {
  model: string;
  finishReason: string;
  promptTokens: number;
  completionTokens: number;
  /** From taking a slot (after any queueing) to the last token. */
  ms: number;
  /** Waiting for a slot. */
  queuedMs: number;
}

export const DEFAULT_SERVE_OPTIONS: ServeOptions = { maxConcurrent: 4, maxQueue: 16, headInt8: false, kvInt8: false };

/**
 * Serving: holds the current model, a request queue with a concurrency limit, and hot swap. `load(path)`
 * puts a new model in front of new requests while requests in flight finish on the old one.
 */
export class ServeService implements Startable, ModelServer {
  private current: LoadedModel | undefined;
  private loading: Promise<unknown> = Promise.resolve();
  private running = 0;
  private readonly waiters: Array<() => void> = [];
  private stats = { requests: 0, rejected: 0, completionTokens: 0, swaps: 0 };
  private started = false;
  private notServingWhy: string | undefined;
  private readonly observers: Array<(r: RequestRecord) => void> = [];

  constructor(
    private readonly opts: ServeOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    if (this.started) return;
    loadAddon(this.opts.addon);
    const k = kernelInfo();
    if (!k.kernel) throw new MagnetError('ERR_KERNEL_SELFTEST', `native kernels refused to start: ${k.error ?? 'unknown error'}`);
    this.log.info({ kernel: k.kernel, available: k.available }, 'ternary kernel path chosen');
    if (this.opts.modelPath) await this.load(this.opts.modelPath, this.opts.modelId);
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
    const m = this.current;
    this.current = undefined;
    for (const w of this.waiters.splice(0)) w(); // they see !started and fail with 503
    if (m) {
      m.retired = true;
      for (let i = 0; i < 100 && m.inflight > 0; i++) await new Promise((r) => setTimeout(r, 50));
      m.native.close();
    }
  }

  /**
   * Loads a model and swaps it in (the DiLoCo part calls this after each merge). On failure the old model keeps
   * serving and the error (ERR_MODEL_LOAD, naming the bad tensor or key) is thrown. `verify` checks the loaded
   * model's metadata before it goes live (a message = refused with ERR_MODEL_MISMATCH).
   */
  async load(path: string, id?: string, verify?: (info: NativeModelInfo) => string | undefined): Promise<NativeModelInfo> {
    const run = this.loading.then(async () => {
      const t0 = Date.now();
      const { native, info, tokenizer, chat } = await loadServedModel(path, {
        ...(this.opts.threads ? { threads: this.opts.threads } : {}),
        maxBatch: this.opts.maxConcurrent,
        headInt8: this.opts.headInt8,
        kvInt8: this.opts.kvInt8,
        ...(this.opts.contextLength ? { contextLength: this.opts.contextLength } : {}),
        ...(this.opts.kvCacheBytes ? { kvCacheBytes: this.opts.kvCacheBytes } : {}),
      });
      const wrong = verify?.(info);
      if (wrong) {
        native.close();
        throw new MagnetError('ERR_MODEL_MISMATCH', `${path}: ${wrong}`, { path });
      }
      // The id stays across swaps (clients keep using one name while merged models replace each other).
      const modelId = id ?? this.opts.modelId ?? this.current?.id ?? basename(path).replace(/\.gguf$/i, '');
      const next: LoadedModel = { id: modelId, native, info, tokenizer, chat, loadedAt: Date.now(), inflight: 0, retired: false };
      const old = this.current;
      this.current = next;
      if (old) {
        this.stats.swaps++;
        old.retired = true;
        if (old.inflight === 0) old.native.close();
      }
      this.log.info(
        {
          model: next.id,
          path,
          round: info.round,
          kernel: info.kernel,
          tokenizer: tokenizer.description,
          chat: chat.format,
          ms: Date.now() - t0,
        },
        'model loaded',
      );
      return info;
    });
    this.loading = run.catch((err: unknown) => this.log.warn({ err, path }, 'model load failed; keeping the current model'));
    return run;
  }

  model(): LoadedModel | undefined {
    return this.current;
  }

  /** Marks this service as one that will never serve here, and why: requests get 503 with that reason. */
  notServing(why: string): void {
    this.notServingWhy = why;
  }

  /** Called after every finished generation (metrics). */
  observe(fn: (r: RequestRecord) => void): void {
    this.observers.push(fn);
  }

  /** Why /readyz is not ready, or undefined when a model answers. */
  unready(): string | undefined {
    if (this.notServingWhy) return `this node does not serve: ${this.notServingWhy}`;
    if (!this.started) return 'serving has not started';
    return this.current ? undefined : 'no model is loaded yet';
  }

  /** Resolves a request's model name: the current id (or its file name); anything else is 404. */
  resolveModel(name: string): LoadedModel {
    const m = this.current;
    if (this.notServingWhy) throw new ApiError(503, `this node does not serve: ${this.notServingWhy}`, 'server_error', null, 'not_serving');
    if (!m) throw new ApiError(503, 'no model is loaded yet', 'server_error', null, 'model_not_loaded');
    if (name !== m.id && name !== basename(m.info.path))
      throw new ApiError(404, `The model '${name}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
    return m;
  }

  /** Runs one generation through the queue; throws ApiError 429 when the queue is full. */
  async generate(args: GenerateArgs, m: LoadedModel): Promise<GenerateResult> {
    const queuedAt = Date.now();
    if (this.running >= this.opts.maxConcurrent) {
      if (this.waiters.length >= this.opts.maxQueue) {
        this.stats.rejected++;
        throw new ApiError(
          429,
          `server busy: ${this.running} requests running and ${this.waiters.length} waiting`,
          'rate_limit_exceeded',
          null,
          'queue_full',
        );
      }
      await new Promise<void>((r) => this.waiters.push(r)); // the slot is handed over by release()
      if (!this.started) {
        this.release();
        throw new ApiError(503, 'server is stopping', 'server_error');
      }
    } else {
      this.running++;
    }
    // A request that waited in the queue across a hot swap runs on the new model (the old one may be closed).
    if (m.retired && this.current) m = this.current;
    const startedAt = Date.now();
    this.stats.requests++;
    m.inflight++;
    try {
      const ctx = m.info.contextLength;
      if (args.tokens.length >= ctx)
        throw new ApiError(
          400,
          `This model's maximum context length is ${ctx} tokens; the prompt has ${args.tokens.length}`,
          'invalid_request_error',
          'messages',
          'context_length_exceeded',
        );
      if (args.maxTokensKey && args.tokens.length + args.maxTokens > ctx)
        throw new ApiError(
          400,
          `'${args.maxTokensKey}' is ${args.maxTokens} but the prompt has ${args.tokens.length} tokens and this model's context holds ${ctx}: at most ${ctx - args.tokens.length} can be generated`,
          'invalid_request_error',
          args.maxTokensKey,
          'context_length_exceeded',
        );
      const g = runGeneration(
        m.native,
        args.tokens,
        {
          maxTokens: Math.min(args.maxTokens, ctx - args.tokens.length),
          temperature: args.temperature,
          topP: args.topP,
          topK: args.topK,
          seed: args.seed >>> 0,
          stop: args.stop,
          presencePenalty: args.presencePenalty ?? 0,
          frequencyPenalty: args.frequencyPenalty ?? 0,
          ...(args.logitBias ? { logitBias: args.logitBias } : {}),
          logprobs: args.logprobs ?? -1,
          json: args.json === true,
          ...(args.jsonSchema ? { jsonSchema: args.jsonSchema } : {}),
        },
        (bytes) => args.onText(bytes),
        (id, logprob, topIds, topLps) => args.onToken?.({ id, logprob, top: Array.from(topIds, (t, i) => [t, topLps[i]!]) }),
      );
      const abort = (): void => m.native.cancel(g.id);
      args.signal?.addEventListener('abort', abort, { once: true });
      const done = await g.done;
      args.signal?.removeEventListener('abort', abort);
      this.stats.completionTokens += done.completionTokens;
      // The engine failed this request only (its KV cache refused or not allocated, a native exception).
      const rec: RequestRecord = {
        model: m.id,
        finishReason: done.finishReason,
        promptTokens: done.promptTokens,
        completionTokens: done.completionTokens,
        ms: Date.now() - startedAt,
        queuedMs: startedAt - queuedAt,
      };
      this.record(rec, done.error);
      if (done.finishReason === 'error') throw new ApiError(500, done.error, 'server_error', null, 'generation_failed');
      return { finishReason: done.finishReason, promptTokens: done.promptTokens, completionTokens: done.completionTokens, model: m };
    } finally {
      m.inflight--;
      if (m.retired && m.inflight === 0 && m !== this.current) m.native.close();
      this.release();
    }
  }

  async embed(inputs: Int32Array[], m: LoadedModel): Promise<Float32Array[]> {
    const ctx = m.info.contextLength;
    inputs.forEach((t, i) => {
      if (t.length > ctx)
        throw new ApiError(
          400,
          `input ${i} has ${t.length} tokens; this model's context holds ${ctx}`,
          'invalid_request_error',
          'input',
          'context_length_exceeded',
        );
    });
    m.inflight++;
    try {
      const out: Float32Array[] = [];
      for (const t of inputs) out.push(await m.native.embedding(t));
      this.stats.requests++;
      return out;
    } finally {
      m.inflight--;
      if (m.retired && m.inflight === 0 && m !== this.current) m.native.close();
    }
  }

  /** One log line per request with its speed, and the observers. */
  private record(r: RequestRecord, error: string): void {
    const tokensPerSecond = r.ms > 0 ? Math.round((r.completionTokens / r.ms) * 10_000) / 10 : 0;
    if (r.finishReason === 'error') this.log.warn({ ...r, error }, 'generation failed');
    else this.log.info({ ...r, tokensPerSecond }, 'request');
    for (const fn of this.observers) fn(r);
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.running--;
  }

  routes(): Route[] {
    return serveRoutes(this, this.opts.defaultMaxTokens ?? DEFAULT_MAX_TOKENS);
  }

  status(): Record<string, unknown> {
    const m = this.current;
    const k: KernelInfo | undefined = this.started || m ? kernelInfo() : undefined;
    return {
      kernel: k?.kernel ?? null,
      model: m
        ? {
            id: m.id,
            path: m.info.path,
            round: m.info.round,
            checkpointSha256: m.info.checkpointSha256,
            loadedAt: new Date(m.loadedAt).toISOString(),
            inflight: m.inflight,
            contextLength: m.info.contextLength,
            vocabSize: m.info.vocabSize,
            tokenizer: m.tokenizer.description,
            chatFormat: m.chat.format,
            chatFormatNote: m.chat.note,
            bytesPerToken: m.info.bytesPerToken,
            threads: m.info.threads,
          }
        : null,
      running: this.running,
      queued: this.waiters.length,
      limits: { maxConcurrent: this.opts.maxConcurrent, maxQueue: this.opts.maxQueue },
      ...this.stats,
    };
  }
}
