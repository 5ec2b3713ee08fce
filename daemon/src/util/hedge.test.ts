import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hedged } from './hedge.js';

const after = <T>(ms: number, v: T, fail = false): Promise<T> =>
  new Promise((resolve, reject) => setTimeout(() => (fail ? reject(new Error(String(v))) : resolve(v)), ms));

test('a fast first source is the only one asked', async () => {
  const asked: string[] = [];
  const v = await hedged(
    ['a', 'b'].map((x) => () => (asked.push(x), after(5, x))),
    200,
  );
  assert.equal(v, 'a');
  assert.deepEqual(asked, ['a']);
});

test('a failing source hands over at once, not after the hedge delay', async () => {
  const t0 = Date.now();
  const v = await hedged([() => after(5, 'a', true), () => after(5, 'b')], 10_000);
  assert.equal(v, 'b');
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
});

test('a slow source is hedged after the delay, the first answer wins and a late one goes to `late`', async () => {
  const late: string[] = [];
  const v = await hedged([() => after(300, 'slow'), () => after(5, 'fast')], 30, (x) => late.push(x));
  assert.equal(v, 'fast');
  await after(400, null);
  assert.deepEqual(late, ['slow']);
});

test('when every source fails, the last error is thrown', async () => {
  await assert.rejects(hedged([() => after(1, 'a', true), () => after(1, 'b', true)], 50), /^Error: b$/);
  await assert.rejects(hedged([], 50), /no attempt/);
});
