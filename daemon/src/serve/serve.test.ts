import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { HttpApi } from '../api/http-server.js';
import { createLogger } from '../log/logger.js';
import { ServeService } from './service.js';
import { nativeMissing, randomModel } from './test-helpers.js';

const skip = nativeMissing();

describe('OpenAI-compatible serving (real addon, real HTTP, official openai client)', { skip }, () => {
  const log = createLogger('silent');
  let svc: ServeService;
  let api: HttpApi;
  let client: OpenAI;
  let base: string;
  const files: string[] = [];

  before(async () => {
    files.push(randomModel('tiny-a', ['--seed', '1']), randomModel('tiny-b', ['--seed', '2']));
    svc = new ServeService({ modelPath: files[0] as string, modelId: 'magnet-tiny', threads: 1, maxConcurrent: 2, maxQueue: 64, headInt8: false, kvInt8: false }, log);
    await svc.start();
    api = new HttpApi({ listen: { host: '127.0.0.1', port: 0 } }, log);
    api.add(...svc.routes());
    await api.start();
    base = `http://127.0.0.1:${api.address.port}/v1`;
    client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await api?.stop();
    await svc?.stop();
    for (const f of files) rmSync(dirname(f), { recursive: true, force: true });
  });

  it('lists the model', async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), ['magnet-tiny']);
  });

  it('completes, streamed and not, with the same greedy text and usage counts', async () => {
    const plain = await client.completions.create({ model: 'magnet-tiny', prompt: 'Hello', max_tokens: 12, temperature: 0 });
    const choice = plain.choices[0];
    assert.ok(choice && typeof choice.text === 'string');
    assert.equal(plain.usage?.prompt_tokens, 6);  // BOS + 5 bytes
    assert.ok((plain.usage?.completion_tokens ?? 0) >= 1 && (plain.usage?.completion_tokens ?? 99) <= 12);
    assert.ok(choice.finish_reason === 'length' || choice.finish_reason === 'stop');
    const stream = await client.completions.create({ model: 'magnet-tiny', prompt: 'Hello', max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage;
    for await (const c of stream) {
      text += c.choices[0]?.text ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    assert.equal(text, choice.text);
    assert.equal(finish, choice.finish_reason);
    assert.deepEqual(usage, plain.usage);
  });

  it('chats, streamed and not; the same seed gives the same sample', async () => {
    const messages = [{ role: 'user' as const, content: 'Say something' }];
    const a = await client.chat.completions.create({ model: 'magnet-tiny', messages, max_tokens: 10, temperature: 0.9, seed: 7 });
    const b = await client.chat.completions.create({ model: 'magnet-tiny', messages, max_tokens: 10, temperature: 0.9, seed: 7 });
    assert.equal(a.object, 'chat.completion');
    assert.equal(a.choices[0]?.message.role, 'assistant');
    assert.equal(a.choices[0]?.message.content, b.choices[0]?.message.content);
    const s = await client.chat.completions.create({ model: 'magnet-tiny', messages, max_tokens: 10, temperature: 0.9, seed: 7, stream: true });
    let text = '';
    for await (const c of s) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, a.choices[0]?.message.content);
  });

  it('honours stop sequences', async () => {
    const full = await client.completions.create({ model: 'magnet-tiny', prompt: 'abc', max_tokens: 16, temperature: 0 });
    const t = full.choices[0]?.text ?? '';
    if (t.length < 3) return;  // nothing to cut (the random model ended at once)
    const stop = t.slice(1, 3);
    const cut = await client.completions.create({ model: 'magnet-tiny', prompt: 'abc', max_tokens: 16, temperature: 0, stop: [stop] });
    assert.equal(cut.choices[0]?.text, t.slice(0, t.indexOf(stop)));
    assert.equal(cut.choices[0]?.finish_reason, 'stop');
  });

  it('answers bad requests with OpenAI-style errors', async () => {
    await assert.rejects(client.completions.create({ model: 'nope', prompt: 'x' }), (e: unknown) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
    await assert.rejects(client.completions.create({ model: 'magnet-tiny', prompt: 'x', temperature: 5 }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
    await assert.rejects(client.completions.create({ model: 'magnet-tiny', prompt: 'x'.repeat(400) }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded');
    const r = await fetch(`${base}/completions`, { method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    const body = (await r.json()) as { error: { type: string; code: string } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.code, 'invalid_json');
  });

  it('keeps serving the old model when a load fails', async () => {
    const before = svc.status()['model'] as { path: string };
    await assert.rejects(svc.load('/nonexistent/model.gguf'), (e: unknown) => (e as { code?: string }).code === 'ERR_MODEL_LOAD');
    assert.equal((svc.status()['model'] as { path: string }).path, before.path);
    const ok = await client.completions.create({ model: 'magnet-tiny', prompt: 'hi', max_tokens: 2 });
    assert.ok(ok.choices[0]);
  });

  it('hot-swaps under a stream of requests and loses none', async () => {
    const results: Array<Promise<string>> = [];
    let swapped = false;
    for (let i = 0; i < 24; i++) {
      results.push(client.completions.create({ model: 'magnet-tiny', prompt: `req ${i}`, max_tokens: 24, temperature: 0 }).then((r) => r.choices[0]?.finish_reason ?? 'missing'));
      if (i === 8) {
        await svc.load(files[1] as string);
        swapped = true;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const finishes = await Promise.all(results);
    assert.ok(swapped);
    assert.equal(finishes.length, 24);
    for (const f of finishes) assert.ok(f === 'length' || f === 'stop', `finish ${f}`);
    const st = svc.status();
    assert.equal((st['model'] as { path: string }).path, files[1]);
    assert.ok((st['swaps'] as number) >= 1);
  });
});

describe('queue limit', { skip }, () => {
  it('answers 429 when the queue is full', async () => {
    const log = createLogger('silent');
    const file = randomModel('tiny-q');
    const svc = new ServeService({ modelPath: file, threads: 1, maxConcurrent: 1, maxQueue: 0, headInt8: false, kvInt8: false }, log);
    await svc.start();
    const api = new HttpApi({ listen: { host: '127.0.0.1', port: 0 } }, log);
    api.add(...svc.routes());
    await api.start();
    try {
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${api.address.port}/v1`, apiKey: 'x', maxRetries: 0 });
      const id = svc.model()?.id as string;
      const all = await Promise.allSettled([1, 2, 3].map(() => client.completions.create({ model: id, prompt: 'slow', max_tokens: 200, temperature: 0 })));
      const rejected = all.filter((r) => r.status === 'rejected');
      assert.ok(all.some((r) => r.status === 'fulfilled'));
      assert.ok(rejected.length >= 1);
      for (const r of rejected) assert.ok((r as PromiseRejectedResult).reason instanceof OpenAI.RateLimitError);
    } finally {
      await api.stop();
      await svc.stop();
      rmSync(dirname(file), { recursive: true, force: true });
    }
  });
});
