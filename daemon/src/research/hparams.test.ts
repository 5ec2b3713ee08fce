import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../util/errors.js';
import { HPARAMS, HPARAM_KEYS, approxParams, checkConfig, checkResolved, configKey, ffnDim, resolveConfig } from './hparams.js';

const throwsLine = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && re.test(e.message) && !e.message.includes('\n'));

test('every hyperparameter has a group and a one-line description', () => {
  for (const k of HPARAM_KEYS) {
    const p = HPARAMS[k];
    assert.ok(['architecture', 'optimizer', 'schedule', 'batch'].includes(p.group), k);
    assert.ok(p.description.length > 0 && !p.description.includes('\n'), k);
  }
});

test('checkConfig: one line naming where, the key and the value', () => {
  const w = 'plan p.json: phases[2].vary[1]';
  throwsLine(
    () => checkConfig({ lrr: 0.1 }, w),
    /^plan p\.json: phases\[2\]\.vary\[1\]: unknown hyperparameter "lrr" \(known: preset, dim, /,
  );
  throwsLine(() => checkConfig({ dim: 300 }, w), /: "dim" must be an integer multiple of 256 in \[256, 4096\], not 300$/);
  throwsLine(() => checkConfig({ dim: 8192 }, w), /"dim" must be .*not 8192$/);
  throwsLine(() => checkConfig({ n_layers: 2.5 }, w), /"n_layers" must be an integer in \[1, 64\], not 2\.5$/);
  throwsLine(() => checkConfig({ lr: 0 }, w), /"lr" must be a number in \(0, 1\], not 0$/);
  throwsLine(() => checkConfig({ lr: '0.1' }, w), /"lr" must be a number in \(0, 1\], not "0\.1"$/);
  throwsLine(() => checkConfig({ beta2: 1 }, w), /"beta2" must be a number in \[0, 1\), not 1$/);
  throwsLine(() => checkConfig({ warmup_frac: 0.6 }, w), /"warmup_frac" must be a number in \[0, 0\.5\], not 0\.6$/);
  throwsLine(() => checkConfig({ schedule: 'linear' }, w), /"schedule" must be one of wsd, cosine, constant, not "linear"$/);
  throwsLine(() => checkConfig({ tie_embeddings: 1 }, w), /"tie_embeddings" must be true or false, not 1$/);
  throwsLine(() => checkConfig({ preset: 'huge' }, w), /"preset" must be one of tiny, small, not "huge"$/);
  throwsLine(() => checkConfig([1], w), /a config must be an object of hyperparameters, not \[1\]$/);
  throwsLine(() => checkConfig({ arch: 'x\ny' }, w), /"arch" must be one of llama, bitnet, not "x\\ny"$/);
  assert.deepEqual(checkConfig({ dim: 512, lr: 3e-4, $comment: 'x', tie_embeddings: true }, w), {
    dim: 512,
    lr: 3e-4,
    tie_embeddings: true,
  });
});

test('resolveConfig: the preset shape under explicit values, then the trainer defaults', () => {
  const tiny = resolveConfig({});
  assert.deepEqual(tiny, {
    preset: 'tiny',
    dim: 256,
    n_layers: 4,
    n_heads: 4,
    n_kv_heads: 2,
    ffn_mult: 3,
    context: 256,
    arch: 'llama',
    tie_embeddings: false,
    lr: 1e-3,
    schedule: 'wsd',
    warmup_frac: 0.05,
    decay_frac: 0.2,
    min_lr_ratio: 0.1,
    weight_decay: 0.1,
    wd_schedule: 'constant',
    beta1: 0.9,
    beta2: 0.95,
    grad_clip: 1,
    batch: 4,
    grad_accum: 1,
  });
  assert.equal(Object.keys(tiny).length, HPARAM_KEYS.length);
  const small = resolveConfig({ preset: 'small', n_layers: 3 });
  assert.deepEqual([small.dim, small.n_layers, small.n_heads, small.n_kv_heads, small.context], [512, 3, 8, 4, 512]);
  assert.equal(ffnDim(small), 1536);
  assert.equal(ffnDim(tiny), 768);
  assert.equal(ffnDim({ dim: 256, ffn_mult: 0.5 }), 256);
  // Python's round(): halves to even
  assert.equal(ffnDim({ dim: 512, ffn_mult: 1.25 }), 512);
  assert.equal(ffnDim({ dim: 256, ffn_mult: 1.5 }), 512);
  assert.equal(ffnDim({ dim: 512, ffn_mult: 2.67 }), 1280);
});

test('checkResolved: the rules between keys', () => {
  const w = 'x';
  throwsLine(() => checkResolved(resolveConfig({ n_heads: 3 }), w), /^x: dim 256 is not a multiple of n_heads 3$/);
  throwsLine(() => checkResolved(resolveConfig({ n_heads: 4, n_kv_heads: 3 }), w), /n_heads 4 is not a multiple of n_kv_heads 3/);
  // with dim a multiple of 256 and at most 64 heads the head size is always even; the rule still guards the trainer
  throwsLine(
    () => checkResolved({ ...resolveConfig({}), dim: 6, n_heads: 2, n_kv_heads: 1 }, w),
    /head size dim \/ n_heads = 6\/2 = 3 is odd/,
  );
  throwsLine(
    () => checkResolved(resolveConfig({ warmup_frac: 0.5, decay_frac: 0.6 }), w),
    /warmup_frac 0\.5 \+ decay_frac 0\.6 is more than 1/,
  );
  assert.doesNotThrow(() => checkResolved(resolveConfig({ preset: 'small', n_kv_heads: 1 }), w));
});

test('configKey: the same config written two ways is one key; a different value is another', () => {
  assert.equal(configKey({}), configKey({ preset: 'tiny', dim: 256, lr: 1e-3 }));
  assert.equal(configKey({ lr: 2e-3, dim: 512 }), configKey({ dim: 512, lr: 2e-3 }));
  assert.equal(configKey({ preset: 'small', dim: 256, n_layers: 4, n_heads: 4, n_kv_heads: 2, context: 256 }), configKey({}));
  assert.notEqual(configKey({}), configKey({ lr: 2e-3 }));
  assert.notEqual(configKey({}), configKey({ preset: 'small' }));
  assert.match(configKey({}), /^\{"arch":"llama","batch":4,/);
});

test('approxParams: the tiny preset is a few million parameters; a member cannot hide a huge model in a config', () => {
  const tiny = approxParams(resolveConfig({ preset: 'tiny' }));
  assert.ok(tiny > 3e6 && tiny < 6e6, String(tiny));
  assert.ok(approxParams(resolveConfig({ dim: 4096, n_layers: 64, n_heads: 32, n_kv_heads: 8 })) > 1e10);
});
