import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, type RunningDaemon, loopbackStartArgs, startDaemon, tempHome, testEnv } from '../helpers/daemon.js';

/**
 * The node's HTTP surface against a real daemon: the admin listener refuses callers without the token, with a Host
 * that is not this machine, and from browser pages; no admin route takes a server-side path; the public listener
 * answers only /v1 and health, with API keys and per-client limits.
 */

/** A raw HTTP request (fetch cannot set Host), for the refusals a browser or a rebound DNS name would meet. */
function raw(
  base: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const KEY_A = 'key-a-0123456789abcdef0123456789';
const KEY_B = 'key-b-0123456789abcdef0123456789';

describe('node surface: admin and public listeners', () => {
  let d: RunningDaemon;
  let token: string;
  let work: string;
  /** The storage part's blob counts, to show a refused request stored nothing. */
  const blobs = async () => JSON.stringify((await d.get<{ storage: { blobs: unknown } }>('/status')).storage.blobs);

  before(async () => {
    work = tempHome('magnet-surface-');
    writeFileSync(join(work, 'api-keys'), `# name key\nalice ${KEY_A}\nbob ${KEY_B}\n`);
    d = await startDaemon({
      args: ['--api-keys', join(work, 'api-keys')],
      env: testEnv({ MAGNET_API_RATE: '60', MAGNET_API_BURST: '5', MAGNET_STORAGE_MAX_BLOB_BYTES: String(1 << 20) }),
    });
    token = d.endpoint.token;
  });
  after(async () => {
    await d?.stop();
  });

  it('keeps the admin token in the home directory, mode 0600, and the CLI reads it itself', () => {
    const file = join(d.home, 'admin.token');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').trim(), token);
    const st = spawnSync(process.execPath, [CLI, 'status', '--home', d.home, '--json'], { env: testEnv(), encoding: 'utf8' });
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, /"nodeId"/);
  });

  it('refuses an admin route without the token (401) or with a wrong one (401)', async () => {
    const none = await fetch(`${d.url}/status`);
    assert.equal(none.status, 401);
    assert.match(((await none.json()) as { error: { message: string } }).error.message, /needs "Authorization: Bearer TOKEN"/);
    const wrong = await fetch(`${d.url}/status`, { headers: { authorization: `Bearer ${'0'.repeat(64)}` } });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /wrong admin token/);
    assert.equal((await d.fetch('/status')).status, 200);
    const metrics = await (await d.fetch('/metrics')).text();
    assert.ok(Number(/^magnet_http_refused_total\{listener="admin",status="401"\} (\d+)/m.exec(metrics)?.[1]) >= 2, 'refusals are counted');
  });

  it('refuses a Host that is not this machine (DNS rebinding) with 403, even with the token', async () => {
    const port = new URL(d.url).port;
    const rebound = await raw(d.url, '/status', { headers: { host: `attacker.example:${port}`, authorization: `Bearer ${token}` } });
    assert.equal(rebound.status, 403);
    assert.match(rebound.body, /is not this node's admin address/);
    const otherPort = await raw(d.url, '/status', { headers: { host: '127.0.0.1:1', authorization: `Bearer ${token}` } });
    assert.equal(otherPort.status, 403);
    const ok = await raw(d.url, '/status', { headers: { host: `localhost:${port}`, authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
  });

  it('refuses a cross-site simple POST (Origin, text/plain body) before it reaches the route', async () => {
    const before = await blobs();
    const page = await raw(d.url, '/storage/blobs', {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: '{"path":"/etc/hostname"}',
    });
    assert.equal(page.status, 403);
    assert.match(page.body, /from a browser page are refused/);
    // Even a caller holding the token cannot send a simple (text/plain) body to a route that takes bytes or JSON.
    const plain = await d.fetch('/net/peers/forget', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"nodeId":"x"}' });
    assert.equal(plain.status, 415);
    assert.equal(await blobs(), before, 'nothing was stored');
  });

  it('refuses a request naming a server-side path: storage takes the bytes, never a path on this host', async () => {
    const named = await d.fetch('/storage/blobs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: '/etc/hostname' }),
    });
    assert.equal(named.status, 415);
    assert.match(await named.text(), /takes a application\/octet-stream body/);
    for (const gone of ['/storage/blobs/fetch', '/storage/plain-copy']) {
      const r = await d.fetch(gone, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ path: '/etc/hostname', out: '/tmp/x' }),
      });
      assert.equal(r.status, 404, gone);
    }
    // The same blob sent as bytes is stored and comes back byte for byte.
    const bytes = Buffer.from('the blob travels in the body\n');
    const put = await d.fetch('/storage/blobs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    assert.equal(put.status, 200, await put.clone().text());
    const { id } = (await put.json()) as { id: string };
    const back = await d.fetch(`/storage/blobs/content?id=${id}`);
    assert.equal(back.status, 200);
    assert.deepEqual(Buffer.from(await back.arrayBuffer()), bytes);
  });

  it('refuses an upload over storage.maxBlobBytes (413) and stores nothing', async () => {
    const before = await blobs();
    const big = await d.fetch('/storage/blobs', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(2 << 20, 1),
    });
    assert.equal(big.status, 413);
    assert.match(await big.text(), /over storage\.maxBlobBytes/);
    assert.equal(await blobs(), before);
  });

  it('answers admin routes on the public port with 404, and health there without a key', async () => {
    for (const [method, path] of [
      ['GET', '/status'],
      ['GET', '/metrics'],
      ['POST', '/storage/blobs'],
      ['POST', '/net/peers/forget'],
      ['POST', '/chain/receipts'],
    ] as const) {
      const r = await fetch(`${d.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      assert.equal(r.status, 404, `${method} ${path} on the public port`);
    }
    assert.equal((await fetch(`${d.apiUrl}/healthz`)).status, 200);
    assert.equal((await fetch(`${d.apiUrl}/readyz`)).status, 200);
  });

  it('refuses a public API call with a missing or wrong key (401) and answers a good one', async () => {
    const none = await fetch(`${d.apiUrl}/v1/models`);
    assert.equal(none.status, 401);
    assert.match(await none.text(), /needs a key/);
    const wrong = await fetch(`${d.apiUrl}/v1/models`, { headers: { authorization: 'Bearer not-a-key-0123456789' } });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /not valid/);
    const good = await fetch(`${d.apiUrl}/v1/models`, { headers: { authorization: `Bearer ${KEY_A}` } });
    assert.equal(good.status, 200);
  });

  it('limits one key that floods (429 with retry-after) while another key is answered', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 20; i++)
      codes.push((await fetch(`${d.apiUrl}/v1/models`, { headers: { authorization: `Bearer ${KEY_B}` } })).status);
    assert.ok(codes.filter((c) => c === 429).length >= 10, `codes ${codes.join(',')}`);
    const limited = await fetch(`${d.apiUrl}/v1/models`, { headers: { authorization: `Bearer ${KEY_B}` } });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const other = await fetch(`${d.apiUrl}/v1/models`, { headers: { authorization: `Bearer ${KEY_A}` } });
    assert.equal(other.status, 200);
  });

  it('refuses to start with an admin listener off loopback', () => {
    const r = spawnSync(process.execPath, [CLI, ...loopbackStartArgs(tempHome()), '--admin', '0.0.0.0:0'], {
      env: testEnv(),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /api\.admin: "0\.0\.0\.0:0" is not a loopback address/);
  });
});
