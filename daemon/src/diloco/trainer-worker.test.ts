import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TrainerWorker } from './trainer-worker.js';

// A stand-in for `python -m magnet_trainer worker`: answers every command line with a result naming its own pid.
const dir = mkdtempSync(join(tmpdir(), 'magnet-worker-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fake = join(dir, 'fake-python');
writeFileSync(
  fake,
  `#!${process.execPath}
require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
  const { id } = JSON.parse(l);
  process.stdout.write(JSON.stringify({ id, event: 'result', pid: process.pid }) + '\\n');
});
`,
);
chmodSync(fake, 0o755);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a kept trainer process serves commands back to back, exits once idle for idleMs, and the next command starts another', async () => {
  const w = new TrainerWorker({ env: process.env, python: fake, idleMs: 400 });
  const first = Number((await w.run(['eval']))['pid']);
  const second = Number((await w.run(['eval']))['pid']);
  assert.equal(second, first, 'commands within the idle time reuse the process');
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(alive(first), false, 'the idle process exited');
  const third = Number((await w.run(['eval']))['pid']);
  assert.notEqual(third, first, 'a fresh process after the idle exit');
  w.close();
});
