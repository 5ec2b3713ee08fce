import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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
}

export type NativeEvent =
  | { kind: 'text'; bytes: Buffer; tokens: number }
  | { kind: 'done'; finishReason: 'stop' | 'length' | 'cancelled'; promptTokens: number; completionTokens: number };

/** A loaded model in native memory (mmap + repacked weights; nothing in the JS heap). */
export interface NativeModel {
  info(): NativeModelInfo;
  submit(tokens: Int32Array, opts: NativeSubmitOptions, onEvent: (...args: unknown[]) => void): number;
  cancel(id: number): void;
  logits(tokens: Int32Array): Promise<Float32Array>;
  active(): number;
  close(): void;
}

interface Addon {
  kernelInfo(): KernelInfo;
  loadModel(path: string, opts?: NativeLoadOptions): Promise<NativeModel>;
}

let addon: Addon | undefined;

/** Finds native/build/Release/magnet_native.node above this file (works from daemon/src and from dist/). */
export function addonPath(): string {
  const env = process.env['MAGNET_NATIVE_ADDON'];
  if (env) return resolve(env);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'native', 'build', 'Release', 'magnet_native.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new MagnetError(
    'ERR_NATIVE_MISSING',
    'the native addon is not built: run `npm run build:native` (native/build/Release/magnet_native.node)',
  );
}

export function loadAddon(): Addon {
  addon ??= createRequire(import.meta.url)(addonPath()) as Addon;
  return addon;
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
): { id: number; done: Promise<Extract<NativeEvent, { kind: 'done' }>> } {
  let resolveDone!: (e: Extract<NativeEvent, { kind: 'done' }>) => void;
  const done = new Promise<Extract<NativeEvent, { kind: 'done' }>>((r) => (resolveDone = r));
  const id = model.submit(tokens, opts, (kind, a, b, c) => {
    if (kind === 'text') onText(a as Buffer, b as number);
    else
      resolveDone({
        kind: 'done',
        finishReason: a as 'stop' | 'length' | 'cancelled',
        promptTokens: b as number,
        completionTokens: c as number,
      });
  });
  return { id, done };
}
