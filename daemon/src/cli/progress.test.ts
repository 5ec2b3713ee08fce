import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress } from './progress.js';

function sink(isTTY: boolean) {
  const out: string[] = [];
  return { out, s: { isTTY, columns: 120, write: (x: string) => out.push(x) } };
}

test('off a terminal: one plain line per quarter, then a summary with size, time and rate', () => {
  let t = 0;
  const { out, s } = sink(false);
  const p = new Progress('put a.bin', 100e6, s, () => t);
  for (let i = 0; i < 10; i++) {
    t += 1000;
    p.add(10e6);
  }
  p.finish('sent');
  assert.deepEqual(
    out.map((l) => l.trim()),
    [
      'put a.bin [#######.................] 30% 30.0/100.0 MB 10.0 MB/s, 7 s left',
      'put a.bin [############............] 50% 50.0/100.0 MB 10.0 MB/s, 5 s left',
      'put a.bin [###################.....] 80% 80.0/100.0 MB 10.0 MB/s, 2 s left',
      'put a.bin: sent, 100.0 MB in 10.0 s (10.0 MB/s)',
    ],
  );
});

test('on a terminal: the bar is redrawn in place (at most every 100 ms) and the summary ends the line', () => {
  let t = 0;
  const { out, s } = sink(true);
  const p = new Progress('get 1a2b', 0, s, () => t);
  t = 150;
  p.add(5e6);
  t = 180;
  p.add(5e6); // within 100 ms of the last draw: not redrawn
  p.finish();
  assert.equal(out.length, 2);
  const clear = '\r\u001b[2K'; // back to the line's start, erase it
  assert.ok((out[0] as string).startsWith(`${clear}get 1a2b 5.0 MB `), JSON.stringify(out[0]));
  assert.match((out[1] as string).slice(clear.length), /^get 1a2b: done, 10\.0 MB in 0\.2 s .*\n$/);
  assert.ok((out[1] as string).startsWith(clear));
});
