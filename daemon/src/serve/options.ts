import { DEFAULT_MAX_TOKENS } from './request.js';
import { loadConfig } from '../config/load.js';
import { type Values, bool, choice, int, str } from '../config/schema.js';

/** The `serve` config group: OpenAI-compatible serving of the merged ternary model on this node's CPU. */
export const serveOptions = {
  enabled: choice('auto', ['auto', 'on', 'off'], "serve the model over the HTTP API: auto = when the node's roles include server", {
    env: 'MAGNET_SERVE',
  }),
  model: str('', 'GGUF served from start (empty: the first merged round the DiLoCo part hands over)', { env: 'MAGNET_SERVE_MODEL' }),
  modelId: str('magnet', 'model name answered in /v1/models; it stays the same across hot swaps', { env: 'MAGNET_SERVE_MODEL_ID' }),
  threads: int(0, 'kernel threads (0 = all cores)', { env: 'MAGNET_SERVE_THREADS', min: 0, max: 1024 }),
  maxConcurrent: int(4, 'requests decoded together as one batch; more wait in the queue', {
    env: 'MAGNET_SERVE_MAX_CONCURRENT',
    min: 1,
    max: 64,
  }),
  maxQueue: int(16, 'requests allowed to wait before the API answers 429', { env: 'MAGNET_SERVE_MAX_QUEUE', min: 0, max: 10_000 }),
  headInt8: bool(false, 'int8 LM head (about half the bytes per token of F16; logits approximate)', { env: 'MAGNET_SERVE_HEAD_INT8' }),
  kvInt8: bool(false, 'int8 KV cache instead of f16', { env: 'MAGNET_SERVE_KV_INT8' }),
  contextLength: int(0, "cap on the context length (0 = the model's)", { env: 'MAGNET_SERVE_CTX', min: 0 }),
  kvCacheBytes: int(0, 'bytes all running requests may hold in KV cache together (0 = a quarter of physical memory)', {
    env: 'MAGNET_SERVE_KV_CACHE_BYTES',
    min: 0,
  }),
  addon: str('', 'native addon file (magnet_native.node); empty: native/build/Release in this package', { env: 'MAGNET_NATIVE_ADDON' }),
  defaultMaxTokens: int(DEFAULT_MAX_TOKENS, 'tokens generated for a request that sets no max_tokens', {
    env: 'MAGNET_SERVE_DEFAULT_MAX_TOKENS',
    min: 1,
  }),
};

/** serve.addon from its env var alone, for what runs without the node config (`magnet-node serve`/`generate`, tests). */
export function addonFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return loadConfig({ serve: { addon: serveOptions.addon } }, { env, flags: {} }).serve.addon;
}

/** The serve option group's values (ServeService's own, narrower ServeOptions live in service.ts). */
export type ServePartOptions = Values<typeof serveOptions>;
