import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../../daemon/src/version.js';
import { CLI, testEnv } from '../helpers/daemon.js';

/** The built CLI as a real process: exit code and output. */
function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: testEnv(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('--version and -V print the version and exit 0, like the version command', () => {
  for (const args of [['--version'], ['-V'], ['version']]) {
    const r = cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, `magnet-node ${version}\n`);
    assert.equal(r.stderr, '');
  }
});

test('a usage error is one line naming the option or command and where to look, exit 2, no help', () => {
  const cases: { args: string[]; line: RegExp }[] = [
    { args: ['start', '--bogus'], line: /^magnet-node start: unknown option '--bogus'; see magnet-node start --help$/ },
    {
      args: ['start', '--hme', '/x'],
      line: /^magnet-node start: unknown option '--hme' \(Did you mean --home\?\); see magnet-node start --help$/,
    },
    { args: ['--nope'], line: /^magnet-node: unknown option '--nope'; see magnet-node --help$/ },
    { args: ['bogus'], line: /^magnet-node: unknown command 'bogus'; see magnet-node --help$/ },
    {
      args: ['keys', 'create', '--nope'],
      line: /^magnet-node keys create: unknown option '--nope'.*; see magnet-node keys create --help$/,
    },
    { args: ['serve'], line: /^magnet-node serve: required option '--model <file>' not specified; see magnet-node serve --help$/ },
  ];
  for (const { args, line } of cases) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: one line, not the help:\n${r.stderr}`);
    assert.match(lines[0]!, line);
    assert.doesNotMatch(r.stderr, /Usage:/);
  }
});

test('start --help names the environment variable of every flag that has one', () => {
  const r = cli(['start', '--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const v of [
    'MAGNET_HOME',
    'MAGNET_API',
    'MAGNET_ADMIN',
    'MAGNET_ROLE',
    'MAGNET_MDNS=false',
    'MAGNET_SSD_TEST=false',
    'MAGNET_MEMBERS',
  ]) {
    assert.ok(r.stdout.replace(/\s+/g, ' ').includes(`env ${v}`), `start --help shows env ${v}`);
  }
  assert.match(r.stdout, /MAGNET_PASSPHRASE/);
  assert.match(r.stdout, /Examples:/);
});
