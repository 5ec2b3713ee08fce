import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from './hparams.js';
import { specEditsOf } from './spec-edits.js';

const plan = { data: 'generated', budget: { steps: 40 } };

test('a winner with a preset shape becomes spec edits; what a round sets its own way is named', () => {
  const w = resolveConfig({ preset: 'tiny', context: 128, lr: 0.002, batch: 4, grad_accum: 2, warmup_frac: 0.1, beta2: 0.98 });
  const { edits, notCarried } = specEditsOf(w, plan);
  assert.deepEqual(Object.fromEntries(edits), {
    'model.preset': 'tiny',
    'data.source': 'generated',
    'round.innerLr': 0.002,
    'round.batch': 8,
    'round.seq': 128,
    'round.warmup': 4,
  });
  assert.equal(notCarried['beta2'], 0.98);
  assert.equal(Object.fromEntries(specEditsOf(resolveConfig({ preset: 'small' }), plan).edits)['model.preset'], 'small');
});

test('a shape no preset has goes into model.shape, every differing key named; a BitNet or tied winner is refused', () => {
  const wide = Object.fromEntries(specEditsOf(resolveConfig({ dim: 512, n_layers: 2, n_kv_heads: 4, context: 128 }), plan).edits);
  assert.equal(wide['model.preset'], 'small');
  assert.equal(wide['model.shape'], 'n_layers=2,n_heads=4');
  const long = Object.fromEntries(specEditsOf(resolveConfig({ context: 512 }), plan).edits);
  assert.deepEqual([long['model.preset'], long['model.shape']], ['tiny', 'context=512']);
  assert.throws(() => specEditsOf(resolveConfig({ arch: 'bitnet' }), plan), /arch bitnet/);
  assert.throws(() => specEditsOf(resolveConfig({ tie_embeddings: true }), plan), /ties its embeddings/);
});
