import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { HttpApi } from '../api/http-server.js';
import { createLogger } from '../log/logger.js';
import { addonFromEnv } from './options.js';
import { ServePart } from './part.js';
import { nativeMissing, randomModel } from '../../../test/helpers/native-models.js';

const skip = nativeMissing();
const options = {
  enabled: 'on' as const,
  model: '',
  modelId: 'magnet',
  threads: 1,
  maxConcurrent: 2,
  maxQueue: 64,
  headInt8: false,
  kvInt8: false,
  contextLength: 0,
  defaultMaxTokens: 5,
  kvCacheBytes: 0,
  addon: addonFromEnv(),
};

describe('ServePart.swapModel (the DiLoCo hand-over)', { skip }, () => {
  const log = createLogger('silent');
  let part: ServePart;
  let api: HttpApi;
  let client: OpenAI;
  const files: Record<string, string> = {};

  before(async () => {
    // gen_model writes magnet.checkpoint_sha256 = "random-seed-<seed>"
    files['r1'] = randomModel('round1', ['--seed', '11']);
    files['r2'] = randomModel('round2', ['--seed', '12']);
    files['bad'] = randomModel('bad', ['--fault', 'non_ternary']);
    part = new ServePart({ options, roles: ['storage'], log });
    await part.start();
    api = new HttpApi({ listen: { host: '127.0.0.1', port: 0 } }, log);
    api.add(...part.routes());
    await api.start();
    client = new OpenAI({ baseURL: `http://127.0.0.1:${api.address.port}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await api?.stop();
    await part?.stop();
    for (const f of Object.values(files)) rmSync(dirname(f), { recursive: true, force: true });
  });

  it('serves nothing (503) before the first merged model, then the swapped-in one under the configured id', async () => {
    assert.equal(part.serving, true);
    await assert.rejects(
      client.completions.create({ model: 'magnet', prompt: 'x', max_tokens: 2 }),
      (e: unknown) => e instanceof OpenAI.InternalServerError && e.status === 503,
    );
    await part.swapModel(files['r1'] as string, { round: 1, sha256: 'random-seed-11' });
    const st = part.status() as { lastSwap: { round: number }; model: { path: string } };
    assert.equal(st.lastSwap.round, 1);
    assert.equal(st.model.path, files['r1']);
    const r = await client.completions.create({ model: 'magnet', prompt: 'hi', max_tokens: 4, temperature: 0 });
    assert.equal(r.model, 'magnet');
  });

  it('refuses a file of another checkpoint and a non-ternary file; the old model keeps answering', async () => {
    await assert.rejects(part.swapModel(files['r2'] as string, { round: 2, sha256: 'something-else' }), (e: unknown) => {
      const m = (e as Error).message;
      return (
        (e as { code?: string }).code === 'ERR_MODEL_MISMATCH' && m.includes('magnet.checkpoint_sha256') && m.includes('something-else')
      );
    });
    await assert.rejects(
      part.swapModel(files['bad'] as string, { round: 2 }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_MODEL_LOAD' && /blk\.0\.ffn_up/.test((e as Error).message),
    );
    const st = part.status() as { lastSwap: { round: number }; lastSwapError: { error: string }; model: { path: string } };
    assert.equal(st.model.path, files['r1']);
    assert.equal(st.lastSwap.round, 1);
    assert.match(st.lastSwapError.error, /ffn_up/);
    const r = await client.chat.completions.create({
      model: 'magnet',
      messages: [{ role: 'user', content: 'still there?' }],
      max_tokens: 3,
    });
    assert.ok(r.choices[0]);
  });

  it('stops a chat request that names no max_tokens at serve.defaultMaxTokens, not the whole context', async () => {
    const r = await client.chat.completions.create({
      model: 'magnet',
      messages: [{ role: 'user', content: 'go on and on' }],
      temperature: 0,
    });
    assert.ok((r.usage?.completion_tokens ?? 0) <= 5, `generated ${r.usage?.completion_tokens} tokens`);
    assert.ok(r.choices[0]?.finish_reason === 'length' || (r.usage?.completion_tokens ?? 0) < 5);
  });

  it('swaps while streams are in flight: every stream finishes, later requests see the new model', async () => {
    const streams = [0, 1, 2].map(async (i) => {
      const s = await client.completions.create({ model: 'magnet', prompt: `stream ${i}`, max_tokens: 40, temperature: 0, stream: true });
      let finish: string | null = null;
      for await (const c of s) finish = c.choices[0]?.finish_reason ?? finish;
      return finish;
    });
    await new Promise((r) => setTimeout(r, 5));
    await part.swapModel(files['r2'] as string, { round: 2, sha256: 'random-seed-12' });
    const finishes = await Promise.all(streams);
    for (const f of finishes) assert.ok(f === 'length' || f === 'stop', `stream finished with ${f}`);
    assert.equal((part.status() as { model: { path: string } }).model.path, files['r2']);
  });
});

describe('ServePart on a node without the server role', () => {
  it('does not serve under auto and records handed-over models without loading them', async () => {
    const part = new ServePart({ options: { ...options, enabled: 'auto' }, roles: ['storage'], log: createLogger('silent') });
    await part.start();
    assert.equal(part.serving, false);
    await part.swapModel('/does/not/matter.gguf', { round: 3 });
    assert.equal(part.status()['skippedSwaps'], 1);
    await part.stop();
  });
});
