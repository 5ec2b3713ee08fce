import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { nativeMissing, randomModel } from '../helpers/native-models.js';
import { CLI, type RunningDaemon, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';

const skip = nativeMissing();
const run = promisify(execFile);

describe('serving through the daemon (magnet-node start, real addon, openai client)', { skip }, () => {
  let model: string;
  let daemon: RunningDaemon;
  let client: OpenAI;

  before(async () => {
    model = randomModel('e2e', ['--seed', '5']);
    daemon = await startDaemon({
      env: testEnv({ MAGNET_SERVE: 'on', MAGNET_SERVE_MODEL: model, MAGNET_SERVE_MODEL_ID: 'magnet-e2e', MAGNET_SERVE_THREADS: '1' }),
    });
    client = new OpenAI({ baseURL: `${daemon.apiUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await daemon?.stop();
    rmSync(dirname(model), { recursive: true, force: true });
    if (daemon) rmSync(daemon.home, { recursive: true, force: true });
  });

  it('lists the model and reports the kernel path in /status', async () => {
    const list = await client.models.list();
    assert.deepEqual(
      list.data.map((m) => m.id),
      ['magnet-e2e'],
    );
    const st = await daemon.get<{ serve?: { serving: boolean; kernel: string; model: { path: string } } }>('/status');
    const serve = st.serve;
    assert.ok(serve, 'a serve part in /status');
    assert.equal(serve.serving, true);
    assert.match(serve.kernel, /^(scalar|avx2|avx512|avx512vnni|neon)/);
    assert.equal(serve.model.path, model);
  });

  it('answers completions and streamed chat', async () => {
    const c = await client.completions.create({ model: 'magnet-e2e', prompt: 'The node', max_tokens: 8, temperature: 0 });
    assert.equal(c.object, 'text_completion');
    assert.equal(c.usage?.prompt_tokens, 9);
    const stream = await client.chat.completions.create({
      model: 'magnet-e2e',
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
      seed: 3,
    });
    let chunks = 0;
    let usage;
    for await (const ch of stream) {
      chunks++;
      usage = ch.usage ?? usage;
    }
    assert.ok(chunks >= 2, `chunks: ${chunks}`);
    assert.ok(usage && usage.completion_tokens >= 1 && usage.completion_tokens <= 8);
  });

  it('answers OpenAI-style errors for bad requests', async () => {
    const r = await fetch(`${daemon.apiUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'magnet-e2e', messages: [], max_tokens: 2 }),
    });
    assert.equal(r.status, 400);
    const body = (await r.json()) as { error: { param: string; type: string } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.param, 'messages');
    await assert.rejects(
      client.completions.create({ model: 'magnet-e2e', prompt: 'x', top_p: 3 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'top_p',
    );
  });
});

describe('a node that does not serve', { skip }, () => {
  it('answers /v1 with 503 saying why, not "no model is loaded yet"', async () => {
    const d = await startDaemon({ env: testEnv({ MAGNET_SERVE: 'off' }) });
    try {
      const r = await fetch(`${d.apiUrl}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'any', prompt: 'x' }),
      });
      assert.equal(r.status, 503);
      const err = ((await r.json()) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'not_serving');
      assert.match(err.message, /this node does not serve: serving is off here \(serve.enabled off/);
    } finally {
      await d.stop();
      rmSync(d.home, { recursive: true, force: true });
    }
  });
});

describe('magnet-node serve / generate (standalone, no network)', { skip }, () => {
  let model: string;
  let proc: ChildProcess | undefined;

  before(() => {
    model = randomModel('cli', ['--seed', '6']);
  });
  after(() => {
    proc?.kill('SIGKILL');
    rmSync(dirname(model), { recursive: true, force: true });
  });

  it('serve --model answers the openai client, logs each request with its speed, has probes and metrics, and exits cleanly on SIGTERM', async () => {
    const p = spawn(process.execPath, [CLI, 'serve', '--model', model, '--api', '127.0.0.1:0', '--threads', '1', '--log-level', 'info'], {
      env: testEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc = p;
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const base = await waitFor(() => /on (http:\/\/\S+\/v1)/.exec(out)?.[1], 20_000, `serve to listen (output: ${out})`);
    const client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
    const r = await client.completions.create({ model: 'cli', prompt: 'abc', max_tokens: 5, temperature: 0 });
    assert.ok(r.choices[0] && r.usage?.prompt_tokens === 4);
    const root = base.replace(/\/v1$/, '');
    assert.equal((await fetch(`${root}/healthz`)).status, 200);
    assert.deepEqual(await (await fetch(`${root}/readyz`)).json(), { ready: true });
    const metrics = await (await fetch(`${root}/metrics`)).text();
    assert.match(metrics, /magnet_serve_request_seconds_count\{finish="(length|stop)"\} 1/);
    assert.match(metrics, /magnet_serve_prompt_tokens_total 4/);
    assert.match(metrics, /magnet_serve_running 0/);
    const line = await waitFor(() => out.split('\n').find((l) => l.includes('"msg":"request"')), 5_000, 'the request log line');
    const logged = JSON.parse(line) as { promptTokens: number; completionTokens: number; tokensPerSecond: number; ms: number };
    assert.equal(logged.promptTokens, 4);
    assert.equal(logged.completionTokens, r.usage?.completion_tokens);
    assert.ok(logged.tokensPerSecond > 0 && logged.ms >= 0);
    const exited = new Promise<number | null>((res) => p.once('exit', (code) => res(code)));
    p.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('generate prints text and a summary line naming the kernel', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [CLI, 'generate', '--model', model, '--prompt', 'hi', '--max-tokens', '6', '--temperature', '0', '--threads', '1'],
      { env: testEnv() },
    );
    assert.ok(stdout.length >= 1);
    assert.match(stderr, /1?\d generated tokens .*kernel \w+/);
  });

  it('refuses a truncated GGUF with an error naming the problem', async () => {
    const bad = join(dirname(model), 'truncated.gguf');
    writeFileSync(bad, Buffer.from('GGUF\x03\x00\x00\x00'));
    await assert.rejects(
      run(process.execPath, [CLI, 'serve', '--model', bad, '--api', '127.0.0.1:0'], { env: testEnv() }),
      (e: unknown) => {
        const err = e as { code: number; stderr: string };
        return err.code !== 0 && /truncated|ERR_MODEL_LOAD|too short|end of file/i.test(err.stderr);
      },
    );
  });
});
