import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../log/logger.js';
import { AdminGate, isLoopbackHost } from './admin-gate.js';
import { loadOrCreateAdminToken } from './admin-token.js';
import { PublicGate, parseApiKeys } from './public-gate.js';

const TOKEN = 'ab'.repeat(32);
const req = (headers: Record<string, string>, remote = '127.0.0.1'): IncomingMessage =>
  ({ headers, socket: { remoteAddress: remote } }) as unknown as IncomingMessage;
const status = (r: ReturnType<AdminGate['admit']>): number => ('refuse' in r ? r.refuse.status : 200);

describe('admin gate', () => {
  const gate = new AdminGate(TOKEN, () => 7681);
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('admits loopback Host names on its own port with the token', () => {
    for (const host of ['127.0.0.1:7681', 'localhost:7681', '[::1]:7681', '127.0.0.1', 'LOCALHOST:7681'])
      assert.equal(status(gate.admit(req({ host, ...auth }))), 200, host);
  });

  it('refuses other Host names and ports (DNS rebinding) with 403', () => {
    for (const host of ['evil.example:7681', '10.0.0.1:7681', '127.0.0.1:80', '[::2]:7681', '127.0.0.1.nip.io:7681', ''])
      assert.equal(status(gate.admit(req({ host, ...auth }))), 403, host);
  });

  it('refuses any request that carries an Origin (a browser page), token or not', () => {
    assert.equal(status(gate.admit(req({ host: '127.0.0.1:7681', origin: 'http://127.0.0.1:7681', ...auth }))), 403);
  });

  it('needs the exact token (401 when missing, wrong, or a prefix)', () => {
    assert.equal(status(gate.admit(req({ host: '127.0.0.1:7681' }))), 401);
    assert.equal(status(gate.admit(req({ host: '127.0.0.1:7681', authorization: `Bearer ${TOKEN.slice(2)}` }))), 401);
    assert.equal(status(gate.admit(req({ host: '127.0.0.1:7681', authorization: `Basic ${TOKEN}` }))), 401);
  });

  it('knows loopback addresses', () => {
    assert.ok(isLoopbackHost('127.0.0.1') && isLoopbackHost('127.8.0.1') && isLoopbackHost('::1') && isLoopbackHost('localhost'));
    assert.ok(!isLoopbackHost('0.0.0.0') && !isLoopbackHost('::') && !isLoopbackHost('10.0.0.1') && !isLoopbackHost('127.example'));
  });
});

describe('admin token file', () => {
  it('is made once with mode 0600, read back, narrowed to 0600 when others could read it, and refused when not a token', () => {
    const dir = mkdtempSync(join(tmpdir(), 'magnet-token-'));
    const file = join(dir, 'admin.token');
    const t = loadOrCreateAdminToken(file);
    assert.match(t, /^[0-9a-f]{64}$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(loadOrCreateAdminToken(file), t);
    chmodSync(file, 0o644);
    assert.equal(loadOrCreateAdminToken(file), t);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    writeFileSync(file, 'hunter2\n');
    assert.throws(() => loadOrCreateAdminToken(file), /does not hold an admin token/);
    assert.equal(readFileSync(file, 'utf8'), 'hunter2\n', 'a bad token file is left for the operator to look at');
  });
});

describe('public gate', () => {
  const log = createLogger('silent');
  const KEY = 'k'.repeat(20);

  it('parses key files and names what is wrong', () => {
    assert.deepEqual(
      parseApiKeys(`# comment\nalice ${KEY}\n\n${'z'.repeat(16)}  # trailing\n`, 'f').map((k) => k.name),
      ['alice', 'key-2'],
    );
    assert.throws(() => parseApiKeys('bob short', 'keys.txt'), /keys\.txt:1: API key is shorter than 16/);
    assert.throws(() => parseApiKeys(`a b ${KEY}`, 'keys.txt'), /keys\.txt:1: expected "NAME KEY"/);
  });

  it('passes open routes and unknown paths through, limits per client, and releases in-flight slots', () => {
    let now = 0;
    const gate = new PublicGate({ ratePerMinute: 60, burst: 2, maxInFlight: 1 }, '', log, () => now);
    assert.equal(status(gate.admit(req({}), { open: true })), 200);
    assert.equal(status(gate.admit(req({}), undefined)), 200);
    const first = gate.admit(req({}), { open: false });
    assert.ok(!('refuse' in first));
    assert.equal(status(gate.admit(req({}), { open: false })), 429, 'one in flight at a time');
    first.release?.();
    now += 10;
    const second = gate.admit(req({}), { open: false });
    assert.ok(!('refuse' in second));
    second.release?.();
    assert.equal(status(gate.admit(req({}), { open: false })), 429, 'burst of 2 spent');
    assert.equal(status(gate.admit(req({}, '10.0.0.9'), { open: false })), 200, 'another address has its own bucket');
    now += 1000;
    assert.equal(status(gate.admit(req({}), { open: false })), 200, 'one request a second refills');
  });

  it('needs a listed key once a key file is set, and picks up a key file change without a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'magnet-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `alice ${KEY}\n`);
    let now = 0;
    const gate = new PublicGate({ ratePerMinute: 600, burst: 100, maxInFlight: 100 }, file, log, () => now);
    assert.equal(status(gate.admit(req({}), { open: false })), 401);
    assert.equal(status(gate.admit(req({ authorization: `Bearer ${'x'.repeat(20)}` }), { open: false })), 401);
    assert.equal(status(gate.admit(req({ authorization: `Bearer ${KEY}` }), { open: false })), 200);
    writeFileSync(file, `bob ${'y'.repeat(20)}\n`);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    now += 1500;
    assert.equal(status(gate.admit(req({ authorization: `Bearer ${KEY}` }), { open: false })), 401, 'a revoked key is refused');
    assert.equal(status(gate.admit(req({ authorization: `Bearer ${'y'.repeat(20)}` }), { open: false })), 200);
    assert.throws(
      () => new PublicGate({ ratePerMinute: 1, burst: 1, maxInFlight: 1 }, join(dir, 'missing'), log),
      /cannot read the API key file/,
    );
  });
});
