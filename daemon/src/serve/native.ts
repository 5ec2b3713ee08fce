import { loadAddonModule } from '../native/addon.js';
import { MagnetError } from '../util/errors.js';

/** What the addon reports about the CPU and the kernel path it chose (after its start-up self-test). */
export interface KernelInfo {
  kernel: string | null;
  available: string;
  features: Record<string, boolean>;
  error?: string;
}

export interface NativeLoadOptions {
  threads?: number;
  maxBatch?: number;
  contextLength?: number;
  headInt8?: boolean;
  kvInt8?: boolean;
  kvF32?: boolean;
  /** Bytes for the KV caches of all running requests together (0 or absent: a quarter of physical memory). */
  kvCacheBytes?: number;
}

export interface NativeModelInfo {
  path: string;
  arch: string;
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  feedForwardLength: number;
  headCount: number;
  headCountKv: number;
  vocabSize: number;
  bosTokenId: number;
  eosTokenId: number;
  ternaryFormat: string;
  tiedEmbeddings: boolean;
  headInt8: boolean;
  ternaryBytes: number;
  headBytes: number;
  bytesPerToken: number;
  round: string;
  checkpointSha256: string;
  kernel: string;
  threads: number;
}

export interface NativeSubmitOptions {
  maxTokens: number;
  temperature: number;
  topK?: number;
  topP: number;
  seed: number;
  stop: string[];
  presencePenalty?: number;
  frequencyPenalty?: number;
  logitBias?: { ids: Int32Array; values: Float32Array };
  /** -1: none; k >= 0: a 'token' event per generated token with its log-probability and the k most likely. */
  logprobs?: number;
  /** JSON mode: sampling keeps the text a prefix of one JSON object and ends when it closes. */
  json?: boolean;
  /** A compiled schema (json-schema.ts): JSON mode whose object must also match it. */
  jsonSchema?: string;
}

export type NativeEvent =
  | { kind: 'text'; bytes: Buffer; tokens: number }
  | {
      kind: 'done';
      /** 'error': the request failed natively (e.g. its KV cache refused); `error` says what happened. */
      finishReason: 'stop' | 'length' | 'cancelled' | 'error';
      promptTokens: number;
      completionTokens: number;
      error: string;
    };

/** A loaded model in native memory (mmap + repacked weights; nothing in the JS heap). */
export interface NativeModel {
  info(): NativeModelInfo;
  submit(tokens: Int32Array, opts: NativeSubmitOptions, onEvent: (...args: unknown[]) => void): number;
  cancel(id: number): void;
  logits(tokens: Int32Array): Promise<Float32Array>;
  /** Mean of the final-normed hidden states over all positions, scaled to unit length (dim floats). */
  embedding(tokens: Int32Array): Promise<Float32Array>;
  active(): number;
  /** Each token's text (texts[offsets[i], offsets[i+1])) and the ids that end a generation; before the first submit. */
  setVocab(texts: Buffer, offsets: Uint32Array, endIds: Int32Array): void;
  close(): void;
}

interface Addon {
  kernelInfo(): KernelInfo;
  loadModel(path: string, opts?: NativeLoadOptions): Promise<NativeModel>;
}

/** Loads the addon once per process: `configured` counts on the first call (ServeService.start makes it). */
export function loadAddon(configured = ''): Addon {
  return loadAddonModule(configured) as Addon;
}

export function kernelInfo(): KernelInfo {
  return loadAddon().kernelInfo();
}

/** Loads a GGUF off the event loop; rejects with ERR_MODEL_LOAD naming the bad tensor or key. */
export async function loadNativeModel(path: string, opts: NativeLoadOptions = {}): Promise<NativeModel> {
  const a = loadAddon();
  try {
    return await a.loadModel(path, opts);
  } catch (err) {
    throw new MagnetError('ERR_MODEL_LOAD', (err as Error).message, { path });
  }
}

/** Streams one generation; resolves when the native side reports done. */
export function runGeneration(
  model: NativeModel,
  tokens: Int32Array,
  opts: NativeSubmitOptions,
  onText: (bytes: Buffer, tokens: number) => void,
  onToken?: (id: number, logprob: number, topIds: Int32Array, topLogprobs: Float32Array) => void,
): { id: number; done: Promise<Extract<NativeEvent, { kind: 'done' }>> } {
  let resolveDone!: (e: Extract<NativeEvent, { kind: 'done' }>) => void;
  const done = new Promise<Extract<NativeEvent, { kind: 'done' }>>((r) => (resolveDone = r));
  const id = model.submit(tokens, opts, (kind, a, b, c, d) => {
    if (kind === 'text') onText(a as Buffer, b as number);
    else if (kind === 'token') onToken?.(a as number, b as number, c as Int32Array, d as Float32Array);
    else
      resolveDone({
        kind: 'done',
        finishReason: a as 'stop' | 'length' | 'cancelled' | 'error',
        promptTokens: b as number,
        completionTokens: c as number,
        error: (d as string | undefined) ?? '',
      });
  });
  return { id, done };
}
