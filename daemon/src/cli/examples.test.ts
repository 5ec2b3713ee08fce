import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { EXAMPLES, leafPaths } from './examples.js';
import { buildProgram } from './program.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));

function allPaths(program: Command): string[] {
  const out: string[] = [];
  const walk = (cmd: Command, path: string) => {
    if (path) out.push(path);
    for (const c of cmd.commands) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return out;
}

test('every command has examples in its --help, and every example entry names a real command', () => {
  const program = buildProgram();
  const missing = leafPaths(program).filter((p) => !(p in EXAMPLES));
  assert.deepEqual(missing, [], `commands without examples: ${missing.join(', ')}`);
  const paths = new Set(allPaths(program));
  const stray = Object.keys(EXAMPLES).filter((p) => !paths.has(p));
  assert.deepEqual(stray, [], `examples for commands that do not exist: ${stray.join(', ')}`);
  for (const path of ['blob put', 'status', 'network init', 'start']) {
    const r = spawnSync(process.execPath, [CLI, ...path.split(' '), '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\nExamples:\n {2}(MAGNET_PASSPHRASE=\.\.\. )?magnet-node /, `${path} --help shows examples`);
  }
});
