import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dilocoOptions } from './options.js';
import { type DilocoOptions, dataSliceOf } from './trainer-jobs.js';

const opts = (o: Partial<DilocoOptions>): DilocoOptions =>
  ({ ...Object.fromEntries(Object.entries(dilocoOptions).map(([k, f]) => [k, f.default])), ...o }) as DilocoOptions;

test("'members': each listed member reads its own slice (by nodeId or wallet), disjoint; others fall back to their hash", () => {
  const members = ['node-00000000000000aa', '0x00000000000000000000000000000000000000Bb', 'node-00000000000000cc'];
  const o = opts({ dataAssignment: 'members' });
  const a = dataSliceOf({ nodeId: 'node-00000000000000aa', address: '0x1' }, o, members);
  const b = dataSliceOf({ nodeId: 'node-00000000000000bb', address: '0x00000000000000000000000000000000000000bb' }, o, members);
  const c = dataSliceOf({ nodeId: 'node-00000000000000cc', address: '0x3' }, o, members);
  assert.deepEqual(
    [a, b, c],
    [
      { index: 0, count: 3 },
      { index: 1, count: 3 },
      { index: 2, count: 3 },
    ],
  );
  const stranger = dataSliceOf({ nodeId: 'node-00000000000000dd', address: '0x4' }, o, members);
  assert.equal(stranger.count, 3);
  assert.ok(stranger.index >= 0 && stranger.index < 3);
});

test("'hash' (and 'members' with no list): the slice the nodeId hashes to among dataSlices", () => {
  const h = dataSliceOf({ nodeId: 'node-00000000000000aa', address: '0x1' }, opts({ dataSlices: 16 }), ['node-00000000000000aa']);
  assert.equal(h.count, 16);
  assert.deepEqual(
    dataSliceOf({ nodeId: 'node-00000000000000aa', address: '0x1' }, opts({ dataAssignment: 'members', dataSlices: 16 }), []),
    h,
  );
});
