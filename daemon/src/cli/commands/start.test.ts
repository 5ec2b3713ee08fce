import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { nodeSchema } from '../../node/node-config.js';
import type { Field } from '../../config/schema.js';
import { type StartFlags, startFlags, startFlagsToLayer, startHelpFooter, withStartOptions } from './start.js';

const parse = (args: string[]): StartFlags => withStartOptions(new Command('start').exitOverride()).parse(args, { from: 'user' }).opts();

test('the start flags come from the schema: the names the README, tests and docker-compose use, each with its key, default and env var', () => {
  const flags = startFlags();
  assert.deepEqual(flags.map((f) => f.option.long).sort(), [
    '--admin',
    '--api',
    '--api-keys',
    '--bootstrap',
    '--chain-deployment',
    '--chain-rpc',
    '--grpc',
    '--home',
    '--ipfs-api',
    '--log-level',
    '--members',
    '--network',
    '--no-mdns',
    '--no-ssd-test',
    '--p2p',
    '--role',
  ]);
  for (const { key, field, option } of flags) {
    const [g, k] = key.split('.') as [keyof typeof nodeSchema, string];
    assert.equal((nodeSchema[g] as Record<string, unknown>)[k], field, key);
    assert.ok(field.env && option.description.includes(field.env), `${option.long} names ${field.env}`);
    if (!option.negate) assert.ok(option.description.includes('default '), `${option.long} shows its default`);
  }
});

test('flags map onto config keys; flags not given leave the lower layers in charge', () => {
  const given = startFlagsToLayer(
    parse([
      '--home',
      '/h',
      '--api-keys',
      'k.txt',
      '--no-mdns',
      '--no-ssd-test',
      '--members',
      'node-0000000000000001',
      '--log-level',
      'warn',
    ]),
  );
  assert.equal(given['node.home'], '/h');
  assert.equal(given['api.keysFile'], 'k.txt');
  assert.equal(given['net.mdns'], false);
  assert.equal(given['profile.ssdTest'], false);
  assert.equal(given['membership.members'], 'node-0000000000000001');
  assert.equal(given['node.logLevel'], 'warn');
  const none = startFlagsToLayer(parse([]));
  assert.deepEqual(
    Object.entries(none).filter(([, v]) => v !== undefined),
    [],
  );
  assert.equal(parse(['--config', 'c.json']).config, 'c.json');
});

test('start --help: a flag shows its variable; the footer counts the settings that have only a variable', () => {
  const fields = Object.values(nodeSchema).flatMap((g) => Object.values(g as Record<string, Field<unknown>>));
  const envOnly = fields.filter((f) => f.env && !f.flag);
  const footer = startHelpFooter();
  assert.ok(envOnly.length > 0);
  assert.ok(footer.includes(`${envOnly.length} more settings have only a variable (${envOnly[0]!.env}`), footer);
  assert.match(footer, /MAGNET_PASSPHRASE/);
  assert.ok(
    footer.split('\n').every((l) => l.length <= 80),
    'the footer fits a terminal',
  );
  const help = withStartOptions(new Command('start')).helpInformation();
  for (const { field } of startFlags()) if (field.env) assert.ok(help.replace(/\s+/g, ' ').includes(`env ${field.env}`), field.env);
});
