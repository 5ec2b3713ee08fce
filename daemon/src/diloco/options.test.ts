import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../version.js';
import { dilocoOptions } from './options.js';

test('the diloco hyperparameter defaults are the ones the trainer CLI uses (config/trainer-defaults.json)', () => {
  const shared = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'trainer-defaults.json'), 'utf8')) as Record<string, number>;
  const daemon = {
    batch: dilocoOptions.batch.default,
    seq: dilocoOptions.seq.default,
    innerLr: dilocoOptions.innerLr.default,
    warmup: dilocoOptions.warmup.default,
    outerLr: dilocoOptions.outerLr.default,
    momentum: dilocoOptions.momentum.default,
  };
  assert.deepEqual(
    daemon,
    { batch: 8, seq: 128, innerLr: 4e-4, warmup: 100, outerLr: 0.7, momentum: 0.9 },
    'the daemon defaults did not change',
  );
  const values = Object.fromEntries(Object.entries(shared).filter(([k]) => !k.startsWith('$')));
  assert.deepEqual(values, daemon);
});
