import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Command } from 'commander';
import { bashCompletion } from './completion.js';

test('the bash completion script completes commands, subcommands and options (run in a real bash)', () => {
  const program = new Command('magnet-node');
  program.command('start').option('--home <dir>').option('--network <file>').option('--no-mdns');
  const blob = program.command('blob');
  blob.command('put').option('--kind <kind>').option('--json');
  blob.command('get');
  const script = bashCompletion(program);
  const probe = `${script}
t() { COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _magnet_node_complete; echo "\${COMPREPLY[*]}"; }
t magnet-node st
t magnet-node blob ''
t magnet-node blob put --
t magnet-node --json start --n
`;
  const r = spawnSync('bash', ['-c', probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['start', 'put get --help', '--kind --json --help', '--network --no-mdns']);
});
