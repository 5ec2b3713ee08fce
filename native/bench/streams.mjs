// Batched decoding: aggregate tokens/s of 1 and of 4 concurrent greedy generations on one model (the engine decodes
// running requests as one batch, reading the weights once per step for all of them); best of N each.
//   node native/bench/streams.mjs MODEL.gguf [tokens=32] [reps=2]     (after `npm run build`)
import { createLogger } from '../../dist/daemon/src/log/logger.js';
import { ServeService } from '../../dist/daemon/src/serve/service.js';
import { encodePrompt } from '../../dist/daemon/src/serve/tokenizer/chat.js';

const [file, tokensArg = '32', repsArg = '2'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node native/bench/streams.mjs MODEL.gguf [tokens] [reps]');
  process.exit(2);
}
const maxTokens = Number(tokensArg);
const svc = new ServeService({ modelPath: file, modelId: 'bench', maxConcurrent: 4, maxQueue: 8, headInt8: false, kvInt8: false }, createLogger('silent'));
await svc.start();
const m = svc.model();

async function streams(n) {
  const t0 = performance.now();
  const done = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      svc.generate(
        { tokens: Int32Array.from(encodePrompt(m.tokenizer, `Stream ${i} says`)), maxTokens, temperature: 0, topP: 1, topK: 0, seed: i, stop: [], onText: () => undefined },
        m,
      ),
    ),
  );
  const tokens = done.reduce((s, d) => s + d.completionTokens, 0);
  return tokens / ((performance.now() - t0) / 1000);
}

await streams(1); // warm-up
let one = 0;
let four = 0;
for (let i = 0; i < Number(repsArg); i++) {
  one = Math.max(one, await streams(1));
  four = Math.max(four, await streams(4));
}
console.log(JSON.stringify({ bench: 'streams', model: file, kernel: m.info.kernel, threads: m.info.threads, tokens: maxTokens, one_tok_s: +one.toFixed(2), four_tok_s: +four.toFixed(2), ratio: +(four / one).toFixed(2) }));
await svc.stop();
