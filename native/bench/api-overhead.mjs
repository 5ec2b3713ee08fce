// What the OpenAI-compatible API adds to decoding: the same greedy request timed through the addon directly and
// as a streamed /v1/completions over loopback HTTP, alternating, best of N each; time per generated token.
//   node native/bench/api-overhead.mjs MODEL.gguf [tokens=32] [reps=3]     (after `npm run build`)
import { HttpApi } from '../../dist/daemon/src/api/http-server.js';
import { createLogger } from '../../dist/daemon/src/log/logger.js';
import { runGeneration } from '../../dist/daemon/src/serve/native.js';
import { ServeService } from '../../dist/daemon/src/serve/service.js';
import { encodePrompt } from '../../dist/daemon/src/serve/tokenizer/chat.js';

const [file, tokensArg = '32', repsArg = '3'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node native/bench/api-overhead.mjs MODEL.gguf [tokens] [reps]');
  process.exit(2);
}
const maxTokens = Number(tokensArg);
const reps = Number(repsArg);
const log = createLogger('silent');
const svc = new ServeService({ modelPath: file, modelId: 'bench', maxConcurrent: 1, maxQueue: 4, headInt8: false, kvInt8: false }, log);
await svc.start();
const api = new HttpApi({ listen: { host: '127.0.0.1', port: 0 } }, log);
api.add(...svc.routes());
await api.start();
const prompt = 'The network';
const m = svc.model();

async function direct() {
  const t0 = performance.now();
  const g = runGeneration(m.native, Int32Array.from(encodePrompt(m.tokenizer, prompt)), { maxTokens, temperature: 0, topP: 1, seed: 1, stop: [] }, () => undefined);
  const d = await g.done;
  return { ms: performance.now() - t0, tokens: d.completionTokens };
}

async function viaApi() {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${api.address.port}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'bench', prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  const text = await res.text();
  const usage = [...text.matchAll(/"completion_tokens":(\d+)/g)].pop();
  return { ms: performance.now() - t0, tokens: Number(usage?.[1] ?? 0) };
}

await direct();  // warm-up
const best = { direct: Infinity, api: Infinity };
let tokens = 0;
for (let i = 0; i < reps; i++) {
  const a = await direct();
  const b = await viaApi();
  tokens = a.tokens;
  best.direct = Math.min(best.direct, a.ms / Math.max(1, a.tokens));
  best.api = Math.min(best.api, b.ms / Math.max(1, b.tokens));
}
console.log(JSON.stringify({ bench: 'api_overhead', model: file, kernel: m.info.kernel, threads: m.info.threads, tokens, direct_ms_per_token: +best.direct.toFixed(3), api_ms_per_token: +best.api.toFixed(3), api_overhead_pct: +((best.api / best.direct - 1) * 100).toFixed(2) }));
await api.stop();
await svc.stop();
