// Part of serve-2b4t.sh: load the model with ServeService, check its tokenizer against `tokenizers`, then ask the
// official client for a chat answer with logprobs and one in JSON mode.
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import { HttpApi } from '../../dist/daemon/src/api/http-server.js';
import { createLogger } from '../../dist/daemon/src/log/logger.js';
import { ServeService } from '../../dist/daemon/src/serve/service.js';

const [file, tokenizerJson] = process.argv.slice(2);
const log = createLogger('silent');
const t0 = performance.now();
const svc = new ServeService({ modelPath: file, modelId: '2b4t', maxConcurrent: 4, maxQueue: 8, headInt8: false, kvInt8: false }, log);
await svc.start();
const loadS = (performance.now() - t0) / 1000;
const m = svc.model();
const texts = ['def add(a, b):\n    return a + b  # sum', "I'm sure they've DON'T", 'naïve café 日本語 🚀', '   spaces\t\ttabs\n\n', 'x = [i**2 for i in range(10)]'];
const ref = JSON.parse(
  execFileSync(
    '.venv/bin/python',
    ['-c', 'import json,sys\nfrom tokenizers import Tokenizer\nt=Tokenizer.from_file(sys.argv[1])\nt.encode_special_tokens=True\nprint(json.dumps([t.encode(s, add_special_tokens=False).ids for s in json.loads(sys.argv[2])]))', tokenizerJson, JSON.stringify(texts)],
    { encoding: 'utf8' },
  ),
);
const same = texts.every((t, i) => JSON.stringify(m.tokenizer.encode(t)) === JSON.stringify(ref[i]));
const api = new HttpApi({ listen: { host: '127.0.0.1', port: 0 } }, log);
api.add(...svc.routes());
await api.start();
const client = new OpenAI({ baseURL: `http://127.0.0.1:${api.address.port}/v1`, apiKey: 'x', maxRetries: 0, timeout: 600_000 });
const t1 = performance.now();
const chat = await client.chat.completions.create({ model: '2b4t', messages: [{ role: 'user', content: 'Say hi' }], max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 3 });
const chatS = (performance.now() - t1) / 1000;
const json = await client.chat.completions.create({ model: '2b4t', messages: [{ role: 'user', content: 'JSON please' }], max_tokens: 24, temperature: 0.8, seed: 1, response_format: { type: 'json_object' } });
const lp = chat.choices[0].logprobs.content;
console.log(
  JSON.stringify({
    bench: 'serve_2b4t',
    arch: m.info.arch,
    ternary: m.info.ternaryFormat,
    vocab: m.info.vocabSize,
    tokenizer: m.tokenizer.description,
    chat_format: m.chat.format,
    head_int8: m.info.headInt8,
    load_s: +loadS.toFixed(2),
    tokenizer_matches_reference: same,
    chat_tokens: chat.usage.completion_tokens,
    chat_seconds: +chatS.toFixed(2),
    logprobs_tokens: lp.length,
    top_logprobs: lp[0]?.top_logprobs.length,
    json_mode_text: json.choices[0].message.content,
    json_mode_finish: json.choices[0].finish_reason,
    system_fingerprint: chat.system_fingerprint,
  }),
);
await api.stop();
await svc.stop();
if (!same) process.exit(1);
