import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../util/errors.js';
import { loadConfig, redactConfig } from './load.js';
import { bool, choice, int, list, str } from './schema.js';

const schema = {
  a: {
    port: int(1, 'a port', { min: 0, max: 65535, env: 'T_PORT' }),
    name: str('default', 'a name', { env: 'T_NAME' }),
    mode: choice('x', ['x', 'y', 'z'], 'a mode', { env: 'T_MODE' }),
    on: bool(false, 'a switch', { env: 'T_ON' }),
    peers: list([], 'peers', { env: 'T_PEERS' }),
    secret: str('', 'a secret', { env: 'T_SECRET', secret: true }),
  },
};

function files(repo: object, user: object): { repo: string; user: string } {
  const d = mkdtempSync(join(tmpdir(), 'magnet-cfg-'));
  writeFileSync(join(d, 'repo.json'), JSON.stringify(repo));
  writeFileSync(join(d, 'user.json'), JSON.stringify(user));
  return { repo: join(d, 'repo.json'), user: join(d, 'user.json') };
}

test('precedence: defaults < config/default.json < --config file < env < flags', () => {
  const f = files({ a: { port: 2, name: 'repo', mode: 'y' } }, { a: { port: 3, name: 'user' } });
  const env = { T_PORT: '4' };
  const cfg = loadConfig(schema, { repoDefaultsFile: f.repo, configFile: f.user, env, flags: {} });
  assert.equal(cfg.a.port, 4); // env beats file
  assert.equal(cfg.a.name, 'user'); // user file beats repo file
  assert.equal(cfg.a.mode, 'y'); // repo file beats default
  assert.equal(cfg.a.on, false); // default
  const withFlag = loadConfig(schema, { repoDefaultsFile: f.repo, configFile: f.user, env, flags: { 'a.port': '5', 'a.name': undefined } });
  assert.equal(withFlag.a.port, 5);
  assert.equal(withFlag.a.name, 'user'); // an undefined flag leaves lower layers in charge
});

test('env values are coerced by type: booleans, lists, numbers', () => {
  const cfg = loadConfig(schema, { env: { T_ON: 'true', T_PEERS: 'a, b,,c', T_PORT: '0' }, flags: {} });
  assert.equal(cfg.a.on, true);
  assert.deepEqual(cfg.a.peers, ['a', 'b', 'c']);
  assert.equal(cfg.a.port, 0);
});

const cases: { what: string; input: Parameters<typeof loadConfig>[1]; names: RegExp }[] = [
  {
    what: 'unknown key in a file',
    input: { configFile: files({}, { a: { prot: 1 } }).user, env: {}, flags: {} },
    names: /unknown config key "a\.prot".*known keys: a\.port/,
  },
  {
    what: 'unknown group',
    input: { configFile: files({}, { b: { x: 1 } }).user, env: {}, flags: {} },
    names: /unknown config group "b"; known groups: a/,
  },
  {
    what: 'wrong type in a file',
    input: { configFile: files({}, { a: { port: '80' } }).user, env: {}, flags: {} },
    names: /a\.port \(from config file\): "80"; allowed: an integer in 0\.\.65535/,
  },
  {
    what: 'out of range env',
    input: { env: { T_PORT: '70000' }, flags: {} },
    names: /a\.port \(from env\): "70000"; allowed: an integer in 0\.\.65535/,
  },
  { what: 'not a number flag', input: { env: {}, flags: { 'a.port': 'abc' } }, names: /a\.port \(from flag\): "abc"/ },
  { what: 'bad choice', input: { env: { T_MODE: 'w' }, flags: {} }, names: /a\.mode \(from env\): "w"; allowed: one of x, y, z/ },
  { what: 'bad boolean', input: { env: { T_ON: 'yes' }, flags: {} }, names: /a\.on \(from env\): "yes"; allowed: true or false/ },
  {
    what: 'malformed JSON file',
    input: { configFile: '/nonexistent/magnet.json', env: {}, flags: {} },
    names: /cannot read config file \/nonexistent\/magnet\.json/,
  },
];

for (const c of cases) {
  test(`validation names the key, the value and what is allowed: ${c.what}`, () => {
    assert.throws(
      () => loadConfig(schema, c.input),
      (err) => err instanceof ConfigError && c.names.test(err.message),
    );
  });
}

test('secrets are redacted in logged config and in error messages', () => {
  const cfg = loadConfig(schema, { env: { T_SECRET: 'hunter2' }, flags: {} });
  assert.equal(cfg.a.secret, 'hunter2');
  assert.equal(redactConfig(schema, cfg).a?.['secret'], '<redacted>');
  const s2 = { a: { secret: int(0, 'numeric secret', { env: 'T_S', secret: true }) } };
  assert.throws(
    () => loadConfig(s2, { env: { T_S: 'hunter2' }, flags: {} }),
    (err) => err instanceof ConfigError && !err.message.includes('hunter2'),
  );
});

test('values a network spec fixes win over every source, and an own setting that contradicts one names both', () => {
  const f = files({ a: { port: 2 } }, { a: { name: 'user' } });
  const fixed = { layer: { 'a.port': 9, 'a.mode': 'z' }, name: 'abc123 ("lab")' };
  // config/default.json is not the operator's own setting: the spec replaces it silently.
  const cfg = loadConfig(schema, { repoDefaultsFile: f.repo, configFile: f.user, env: {}, flags: {}, fixed });
  assert.deepEqual([cfg.a.port, cfg.a.mode, cfg.a.name], [9, 'z', 'user']);
  // Setting a fixed key to the spec's own value is fine.
  assert.equal(loadConfig(schema, { env: { T_PORT: '9' }, flags: {}, fixed }).a.port, 9);
  assert.throws(
    () => loadConfig(schema, { env: {}, flags: { 'a.mode': 'y' }, fixed }),
    (e: unknown) =>
      e instanceof ConfigError && /a\.mode is "y" \(from flag\), but network abc123 \("lab"\) fixes it at "z"/.test(e.message),
  );
  assert.throws(
    () => loadConfig(schema, { configFile: files({}, { a: { port: 3 } }).user, env: {}, flags: {}, fixed }),
    /a\.port is 3 \(from config file\), but network .* fixes it at 9/,
  );
  // The spec's own values are checked like any other source.
  assert.throws(() => loadConfig(schema, { env: {}, flags: {}, fixed: { layer: { 'a.port': -1 }, name: 'n' } }), /from network spec/);
});

test('an unknown group in a config file is refused even when empty', () => {
  const f = files({}, { a: {}, typo: {} });
  assert.throws(
    () => loadConfig(schema, { configFile: f.user, env: {}, flags: {} }),
    (e: unknown) => e instanceof ConfigError && /config file .*: unknown config group "typo"; known groups: a/.test(e.message),
  );
});
