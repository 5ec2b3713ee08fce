import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { builtinPlan } from './builtin-plan.js';
import { checkProposal, extractJsonObject, proposePhase, systemPrompt, userPrompt, type DesignerInput } from './designer.js';
import type { DesignerSpec } from './plan.js';

/** What the test server saw and how it answers the next request. */
interface Seen {
  auth?: string;
  body?: { model: string; messages: { role: string; content: string }[]; temperature: number };
  path?: string;
}
let answer: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
const seen: Seen = {};

const servers: Server[] = [];
async function listen(): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.auth = req.headers.authorization;
      seen.path = req.url;
      seen.body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Seen['body'];
      answer(req, res);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const chat = (content: string) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content } }] }));
};

const plan = builtinPlan('micro');
const input: DesignerInput = {
  plan,
  best: { ...plan.base },
  bestEvalLoss: 3.21,
  history: [{ phase: 'learning rate', trials: [{ config: { ...plan.base, lr: 2e-3 }, evalLoss: 3.21 }] }],
  insights: ['higher lr helps at 12 steps'],
};
const spec = (url: string, over: Partial<DesignerSpec> = {}): DesignerSpec => ({
  url,
  model: 'magnet',
  timeoutSec: 10,
  maxProposals: 3,
  ...over,
});
const env = {};

test('a valid proposal inside text and a ```json fence is accepted and parsed; the request is a chat completion', async () => {
  const url = await listen();
  const proposal = { name: 'depth', vary: [{ n_layers: 1 }, { n_layers: 3, dim: 512 }], why: 'depth {matters} "here"' };
  answer = chat(`Sure! Here is my plan:\n\`\`\`json\n${JSON.stringify(proposal, null, 2)}\n\`\`\`\nGood luck {not json}.`);
  const r = await proposePhase(spec(url), input, { env });
  assert.deepEqual(r, {
    ok: true,
    phase: { name: 'depth', vary: [{ n_layers: 1 }, { n_layers: 3, dim: 512 }] },
    why: 'depth {matters} "here"',
  });
  assert.equal(seen.path, '/v1/chat/completions');
  assert.equal(seen.body?.model, 'magnet');
  assert.equal(seen.body?.temperature, 0);
  assert.deepEqual(
    seen.body?.messages.map((m) => m.role),
    ['system', 'user'],
  );
  assert.match(seen.body!.messages[0]!.content, /- dim \(architecture\): an integer multiple of 256 in \[256, 4096\]/);
  assert.deepEqual(JSON.parse(seen.body!.messages[1]!.content).bestEvalLoss, 3.21);
  assert.equal(seen.auth, undefined);
});

test('nonsense text is refused, naming why', async () => {
  const url = await listen();
  answer = chat('I think you should try a larger learning rate.');
  const r = await proposePhase(spec(url), input, { env });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /^designer answer: no JSON object in "I think you should/);
  answer = chat('{"name": "x", "vary": "more"}');
  const r2 = await proposePhase(spec(url), input, { env });
  assert.match(!r2.ok ? r2.reason : '', /^designer answer: "vary" must be a list of 1 to 8 configs, not "more"$/);
  answer = (_req, res) => res.end('<html>hello</html>');
  const r3 = await proposePhase(spec(url), input, { env });
  assert.match(!r3.ok ? r3.reason : '', /^designer http:\/\/127\.0\.0\.1:\d+: the response is not JSON: "<html>/);
});

test('a proposal with an out-of-range value or an unknown key is refused naming the key', async () => {
  const url = await listen();
  answer = chat('{"name": "lr", "vary": [{"lr": 3e-3}, {"lr": 7}], "why": "w"}');
  const r = await proposePhase(spec(url), input, { env });
  assert.match(!r.ok ? r.reason : '', /^designer answer: vary\[1\]: "lr" must be a number in \(0, 1\], not 7$/);
  answer = chat('{"name": "x", "vary": [{"foo": 1}]}');
  const r2 = await proposePhase(spec(url), input, { env });
  assert.match(!r2.ok ? r2.reason : '', /^designer answer: vary\[0\]: unknown hyperparameter "foo" \(known: /);
  assert.ok(!r2.ok && !r2.reason.includes('\n') && r2.reason.length <= 300);
});

test('HTTP 500 is refused', async () => {
  const url = await listen();
  answer = (_req, res) => {
    res.writeHead(500);
    res.end('boom');
  };
  const r = await proposePhase(spec(url), input, { env });
  assert.deepEqual(r, { ok: false, reason: `designer ${url}: HTTP 500` });
});

test('a closed port is refused', async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  const r = await proposePhase(spec(`http://127.0.0.1:${port}`), input, { env });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /^designer http:\/\/127\.0\.0\.1:\d+: unreachable \(ECONNREFUSED\)$/);
});

test('a server that never answers is refused after timeoutSec', async () => {
  const url = await listen();
  answer = () => undefined; // hold the request open
  const t0 = Date.now();
  const r = await proposePhase(spec(url, { timeoutSec: 1 }), input, { env });
  const took = Date.now() - t0;
  assert.deepEqual(r, { ok: false, reason: `designer ${url}: no answer within 1 s` });
  assert.ok(took >= 900 && took < 2500, `took ${took} ms`);
  // the caller's signal stops it too
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const r2 = await proposePhase(spec(url, { timeoutSec: 10 }), input, { env, signal: ac.signal });
  assert.deepEqual(r2, { ok: false, reason: `designer ${url}: aborted` });
});

test('the bearer header is sent when the env var is set; a huge answer is refused', async () => {
  const url = await listen();
  answer = chat('{"name": "ffn", "vary": [{"ffn_mult": 2}], "why": "w"}');
  const r = await proposePhase(spec(url, { apiKeyEnv: 'TEST_DESIGNER_KEY' }), input, { env: { TEST_DESIGNER_KEY: 'sk-123' } });
  assert.equal(r.ok, true);
  assert.equal(seen.auth, 'Bearer sk-123');
  await proposePhase(spec(url, { apiKeyEnv: 'TEST_DESIGNER_KEY' }), input, { env: {} });
  assert.equal(seen.auth, undefined);
  answer = chat('x'.repeat(70 * 1024));
  const big = await proposePhase(spec(url), input, { env });
  assert.deepEqual(big, { ok: false, reason: `designer ${url}: the answer is larger than 64 KiB` });
});

test('checkProposal refuses a proposal whose every config is the best; extractJsonObject finds the first object', () => {
  assert.deepEqual(checkProposal({ name: 'same', vary: [{ lr: 1e-3 }, {}] }, { lr: 1e-3 }), {
    ok: false,
    reason: 'designer answer: every proposed config equals the current best',
  });
  assert.match(
    (checkProposal({ name: 'x', vary: [{ n_kv_heads: 3 }] }, {}) as { reason: string }).reason,
    /^designer answer: vary\[0\] \(over the best\): n_heads 4 is not a multiple of n_kv_heads 3$/,
  );
  assert.match((checkProposal({ name: 'x'.repeat(65), vary: [{}] }, {}) as { reason: string }).reason, /"name" must be a string/);
  assert.deepEqual(extractJsonObject('a {b} then {"x": "}{", "y": {"z": 1}} {"w": 2}'), { x: '}{', y: { z: 1 } });
  assert.equal(extractJsonObject('no braces'), undefined);
  assert.ok(systemPrompt().includes('"vary"'));
  assert.ok(userPrompt(input).length < 4096);
});
