import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../util/errors.js';
import { BUILTIN_PLANS, builtinPlan } from './builtin-plan.js';
import { configKey, resolveConfig, type TrialConfig } from './hparams.js';
import { candidates, converged, improvement, parsePlan, phaseKind, phaseSteps, planHash, type Phase } from './plan.js';

const minimal = { magnetResearch: 1, name: 't', phases: [{ name: 'lr', rule: { param: 'lr', times: [0.5, 2] } }] };
const plan = (over: Record<string, unknown>) => JSON.stringify({ ...minimal, ...over });
const bad = (text: string, re: RegExp) =>
  assert.throws(
    () => parsePlan(text, 'p.json'),
    (e: unknown) => e instanceof ConfigError && re.test(e.message) && !e.message.includes('\n'),
  );

test('a minimal plan takes the defaults; key order does not change the hash; a value does', () => {
  const p = parsePlan(JSON.stringify(minimal), 'p.json');
  assert.deepEqual(p.base, {});
  assert.equal(p.data, 'generated');
  assert.deepEqual(p.budget, { steps: 60, maxTrials: 80, maxHours: 4 });
  assert.deepEqual(p.evaluation, { evalWindows: 16, testWindows: 16 });
  assert.deepEqual(p.seeds, [0]);
  assert.deepEqual(p.convergence, { patience: 2, epsilon: 0.002 });
  assert.deepEqual(p.verify, { sampleRate: 0.34, tolerance: 0.001 });
  assert.equal(p.trialTimeoutSec, 900);
  assert.equal(p.designer, undefined);
  assert.match(planHash(p), /^[0-9a-f]{64}$/);
  const reordered = parsePlan(JSON.stringify({ phases: minimal.phases, name: 't', magnetResearch: 1, budget: { steps: 60 } }), 'q.json');
  assert.equal(planHash(reordered), planHash(p));
  assert.notEqual(planHash(parsePlan(plan({ budget: { steps: 61 } }), 'p.json')), planHash(p));
});

test('a full plan parses, designer included', () => {
  const p = parsePlan(
    plan({
      base: { preset: 'tiny', context: 64 },
      data: '/data/corpus.txt',
      evaluation: { evalWindows: 8, testWindows: 4 },
      budget: { steps: 40, maxTrials: 20, maxHours: 1.5 },
      phases: [
        {
          name: 'architecture',
          vary: [
            { dim: 256, n_layers: 2 },
            { dim: 512, n_layers: 2 },
          ],
        },
        { name: 'learning rate', rule: { param: 'lr', times: [0.5, 1, 2, 4] } },
        { name: 'final', final: { top: 3, stepsFactor: 4 } },
      ],
      seeds: [0, 1],
      convergence: { patience: 3, epsilon: 0.01 },
      verify: { sampleRate: 1, tolerance: 0.05 },
      trialTimeoutSec: 60,
      designer: { url: 'http://127.0.0.1:8080/', model: 'm', apiKeyEnv: 'OPENAI_API_KEY', timeoutSec: 5, maxProposals: 2 },
    }),
    'p.json',
  );
  assert.deepEqual(p.designer, { url: 'http://127.0.0.1:8080', model: 'm', apiKeyEnv: 'OPENAI_API_KEY', timeoutSec: 5, maxProposals: 2 });
  assert.deepEqual(p.phases.map(phaseKind), ['vary', 'rule', 'final']);
  assert.equal(phaseSteps(p, p.phases[0]!), 40);
  assert.equal(phaseSteps(p, p.phases[2]!), 160);
  assert.deepEqual(parsePlan(plan({ designer: { url: 'https://x.example' } }), 'p').designer, {
    url: 'https://x.example',
    model: 'magnet',
    timeoutSec: 60,
    maxProposals: 3,
  });
});

test('bad plans: one line naming the file, the path and the value', () => {
  bad('{"magnetResearch":1,', /^plan p\.json is not JSON: /);
  bad('[1]', /^plan p\.json: must hold a JSON object$/);
  bad(plan({ magnetResearch: 2 }), /^plan p\.json: magnetResearch must be 1 \(the plan format version\), not 2$/);
  bad(plan({ budgets: {} }), /^plan p\.json: unknown key "budgets"; known keys: magnetResearch, name/);
  bad(plan({ budget: { step: 5 } }), /unknown key "budget\.step"; known keys in budget: steps, maxTrials, maxHours$/);
  bad(plan({ budget: { steps: 0 } }), /^plan p\.json: budget\.steps must be an integer in \[1, 1000000\], not 0$/);
  bad(plan({ budget: { maxHours: 0 } }), /budget\.maxHours must be a number in \(0, 10000\], not 0$/);
  bad(plan({ budget: 5 }), /budget must be an object, not 5$/);
  bad(plan({ evaluation: { evalWindows: 'many' } }), /evaluation\.evalWindows must be an integer in \[1, 100000\], not "many"$/);
  bad(plan({ verify: { sampleRate: 1.5 } }), /verify\.sampleRate must be a number in \[0, 1\], not 1\.5$/);
  bad(plan({ convergence: { patience: 0 } }), /convergence\.patience must be an integer in \[1, 100\], not 0$/);
  bad(plan({ seeds: [] }), /seeds must be a list of 1 to 16 seeds, not \[\]$/);
  bad(plan({ seeds: [0, -1] }), /seeds\[1\] must be an integer in \[0, 2147483647\], not -1$/);
  bad(plan({ seeds: [3, 3] }), /seeds must not repeat a seed: \[3,3\]$/);
  bad(plan({ name: '' }), /name must be a string of 1 to 64 printable characters, not ""$/);
  bad(plan({ data: 7 }), /data must be a string of 1 to 4096 printable characters, not 7$/);
  bad(plan({ base: { lrr: 1 } }), /^plan p\.json: base: unknown hyperparameter "lrr" \(known: /);
  bad(plan({ base: { n_heads: 3 } }), /^plan p\.json: base: dim 256 is not a multiple of n_heads 3$/);
  bad(plan({ phases: [] }), /phases must be a list of 1 to 64 phases, not \[\]$/);
  bad(plan({ phases: [{ name: 'a' }] }), /phases\[0\] must have exactly one of vary, rule, final \(has none\)$/);
  bad(
    plan({ phases: [{ name: 'a', vary: [{}], rule: {} }] }),
    /phases\[0\] must have exactly one of vary, rule, final \(has vary, rule\)$/,
  );
  bad(
    plan({ phases: [{ name: 'a', varry: [] }] }),
    /unknown key "phases\[0\]\.varry"; known keys in phases\[0\]: name, vary, rule, final$/,
  );
  bad(
    plan({
      phases: [
        { name: 'a', vary: [{ dim: 256 }] },
        { name: 'b', vary: [{}, { lrr: 0.1 }] },
        { name: 'c', vary: [{ dim: 512 }, { lr: 0.1 }] },
      ],
    }),
    /^plan p\.json: phases\[1\]\.vary\[1\]: unknown hyperparameter "lrr" \(known: /,
  );
  bad(
    plan({ phases: [{ name: 'a', vary: [{ dim: 300 }] }] }),
    /phases\[0\]\.vary\[0\]: "dim" must be an integer multiple of 256 in \[256, 4096\], not 300$/,
  );
  bad(
    plan({ base: { n_heads: 8, n_kv_heads: 4 }, phases: [{ name: 'a', vary: [{ n_kv_heads: 3 }] }] }),
    /phases\[0\]\.vary\[0\] \(over base\): n_heads 8 is not a multiple of n_kv_heads 3$/,
  );
  bad(plan({ phases: [{ name: 'a', vary: [] }] }), /phases\[0\]\.vary must be a list of 1 to 64 configs, not \[\]$/);
  bad(
    plan({ phases: [{ name: 'a', rule: { param: 'schedule', times: [2] } }] }),
    /phases\[0\]\.rule\.param must be a numeric hyperparameter \(one of dim, /,
  );
  bad(
    plan({ phases: [{ name: 'a', rule: { param: 'lr', times: [-1] } }] }),
    /phases\[0\]\.rule\.times\[0\] must be a number in \(0, 1000000\], not -1$/,
  );
  bad(
    plan({ base: { lr: 0.1 }, phases: [{ name: 'a', rule: { param: 'lr', times: [0.5, 2, 20] } }] }),
    /phases\[0\]\.rule\.times\[2\] breaks the range: base lr 0\.1 x 20 = 2, but "lr" must be a number in \(0, 1\]$/,
  );
  bad(
    plan({ phases: [{ name: 'a', rule: { param: 'dim', times: [0.25] } }] }),
    /phases\[0\]\.rule\.times\[0\] breaks the range: base dim 256 x 0\.25 = 0, but "dim" must be an integer multiple of 256/,
  );
  bad(
    plan({ phases: [{ name: 'f', final: { top: 3, stepsFactor: 4 } }, ...minimal.phases] }),
    /^plan p\.json: phases\[0\]\.final is only allowed in the last phase$/,
  );
  bad(
    plan({ phases: [{ name: 'f', final: { top: 0, stepsFactor: 4 } }] }),
    /phases\[0\]\.final\.top must be an integer in \[1, 32\], not 0$/,
  );
  bad(plan({ phases: [...minimal.phases, ...minimal.phases] }), /phases\[1\]\.name repeats the name "lr" \(phase names are unique\)$/);
  bad(plan({ designer: { url: 'ftp://x' } }), /designer\.url must be an http or https URL, not "ftp:\/\/x"$/);
  bad(
    plan({ designer: { url: 'http://x', apiKeyEnv: 'A-B' } }),
    /designer\.apiKeyEnv must be the name of an environment variable, not "A-B"$/,
  );
  bad(plan({ designer: { url: 'http://x', timeoutSec: 0 } }), /designer\.timeoutSec must be an integer in \[1, 600\], not 0$/);
});

test('candidates of a vary phase: each entry over the best; impossible ones dropped with the reason', () => {
  const best: TrialConfig = { dim: 512, n_heads: 8, n_kv_heads: 4, lr: 2e-3 };
  const phase: Phase = { name: 'a', vary: [{ n_layers: 2 }, { n_kv_heads: 3 }, { n_layers: 2 }, { dim: 256, lr: 1e-3 }] };
  const { configs, dropped } = candidates(phase, best, []);
  assert.deepEqual(configs, [
    { dim: 512, n_heads: 8, n_kv_heads: 4, lr: 2e-3, n_layers: 2 },
    { dim: 256, n_heads: 8, n_kv_heads: 4, lr: 1e-3 },
  ]);
  assert.equal(dropped.length, 1);
  assert.deepEqual(dropped[0]!.config, { dim: 512, n_heads: 8, n_kv_heads: 3, lr: 2e-3 });
  assert.match(dropped[0]!.reason, /n_heads 8 is not a multiple of n_kv_heads 3/);
});

test('candidates of a rule phase: the best value times each factor, integers rounded, out-of-range products dropped', () => {
  const lr = candidates({ name: 'lr', rule: { param: 'lr', times: [0.5, 1, 2, 3, 2000] } }, { lr: 1e-3 }, []);
  assert.deepEqual(
    lr.configs.map((c) => c.lr),
    [5e-4, 1e-3, 2e-3, 3e-3],
  );
  assert.equal(lr.dropped.length, 1);
  assert.match(lr.dropped[0]!.reason, /^lr 0\.001 x 2000 = 2: "lr" must be a number in \(0, 1\]$/);
  // resolved value: the preset's context 256 when best does not say
  const ctx = candidates({ name: 'c', rule: { param: 'context', times: [0.5, 0.33, 2, 32] } }, {}, []);
  assert.deepEqual(
    ctx.configs.map((c) => c.context),
    [128, 84, 512],
  );
  assert.match(ctx.dropped[0]!.reason, /context 256 x 32 = 8192: "context" must be an integer in \[16, 4096\]/);
  // dim rounds to its step of 256 and duplicates collapse; a product breaking a rule between keys is dropped
  const dim = candidates({ name: 'd', rule: { param: 'dim', times: [1.4, 1.5, 2] } }, { dim: 256 }, []);
  assert.deepEqual(
    dim.configs.map((c) => c.dim),
    [256, 512],
  );
  const heads = candidates({ name: 'h', rule: { param: 'n_kv_heads', times: [0.5, 1.5, 2] } }, {}, []);
  assert.deepEqual(
    heads.configs.map((c) => c.n_kv_heads),
    [1, 4],
  );
  assert.match(heads.dropped[0]!.reason, /n_heads 4 is not a multiple of n_kv_heads 3/);
  // floating-point noise does not make two configs of one value
  const wd = candidates({ name: 'w', rule: { param: 'weight_decay', times: [3] } }, {}, []);
  assert.equal(wd.configs[0]!.weight_decay, 0.3);
});

test('candidates of the final phase: the top distinct configs by eval loss', () => {
  const ranked = [
    { config: { lr: 2e-3 }, evalLoss: 3.1 },
    { config: { lr: 1e-3 }, evalLoss: 3.0 },
    { config: { preset: 'tiny' as const, lr: 1e-3 }, evalLoss: 3.05 },
    { config: { lr: 4e-3 }, evalLoss: Number.NaN },
    { config: { lr: 5e-4 }, evalLoss: 3.2 },
  ];
  const { configs, dropped } = candidates({ name: 'f', final: { top: 3, stepsFactor: 4 } }, {}, ranked);
  assert.deepEqual(configs, [{ lr: 1e-3 }, { lr: 2e-3 }, { lr: 5e-4 }]);
  assert.deepEqual(dropped, []);
  assert.equal(candidates({ name: 'f', final: { top: 5, stepsFactor: 1 } }, {}, []).configs.length, 0);
});

test('improvement and converged (Algorithm 1 line 16)', () => {
  assert.equal(improvement(4, 3), 0.25);
  assert.equal(improvement(3, 3), 0);
  assert.ok(improvement(3, 3.3) < 0);
  assert.equal(improvement(Infinity, 3), Infinity);
  assert.equal(improvement(3, Infinity), 0);
  const eps = 0.002;
  // fewer than patience + 1 values: never
  assert.equal(converged([], 2, eps), false);
  assert.equal(converged([5], 2, eps), false);
  assert.equal(converged([5, 5], 2, eps), false);
  // the last two phases each improved by less than epsilon
  assert.equal(converged([5, 5, 5], 2, eps), true);
  assert.equal(converged([6, 5, 4.999, 4.998], 2, eps), true);
  // one of the last two improved enough
  assert.equal(converged([5, 4.999, 4], 2, eps), false);
  assert.equal(converged([5, 4, 3.9999], 2, eps), false);
  // exactly epsilon counts as an improvement
  assert.equal(converged([1, 1, 0.998], 2, eps), false);
  // only the last `patience` phases matter
  assert.equal(converged([9, 5, 5, 5], 2, eps), true);
  assert.equal(converged([9, 5, 5, 5], 3, eps), false);
  assert.equal(converged([10, 9, 5, 5, 5, 5], 3, eps), true);
  assert.equal(converged([Infinity, 5, 5], 2, eps), false);
  assert.equal(converged([5, 5, 5], 1, eps), true);
});

test('the built-in plans parse, fit a 2-core CPU and have the expected phases', () => {
  assert.deepEqual(Object.keys(BUILTIN_PLANS).sort(), ['genkidama-tiny', 'micro']);
  for (const [name, p] of Object.entries(BUILTIN_PLANS)) {
    assert.deepEqual(parsePlan(JSON.stringify(p), name), p);
    assert.equal(p.name, name);
    assert.equal(phaseKind(p.phases[p.phases.length - 1]!), 'final');
  }
  const g = builtinPlan('genkidama-tiny');
  assert.equal(g.phases.length, 10);
  assert.deepEqual(g.budget.steps, 40);
  assert.deepEqual(g.evaluation, { evalWindows: 16, testWindows: 16 });
  assert.deepEqual(g.convergence, { patience: 3, epsilon: 0.002 });
  assert.deepEqual(g.verify, { sampleRate: 0.34, tolerance: 0.001 });
  assert.deepEqual(g.phases[9], { name: 'final validation', final: { top: 3, stepsFactor: 4 } });
  let best: TrialConfig = { ...g.base };
  let total = 0;
  for (const phase of g.phases.slice(0, -1)) {
    const { configs, dropped } = candidates(phase, best, []);
    assert.deepEqual(dropped, [], phase.name);
    assert.ok(configs.length >= 2 && configs.length <= 4, phase.name);
    for (const c of configs) {
      const r = resolveConfig(c);
      assert.ok(r.dim <= 512 && r.n_layers <= 6 && r.context <= 128, `${phase.name}: ${configKey(c)}`);
    }
    total += configs.length;
    best = configs[configs.length - 1]!; // any path through the search stays small
  }
  assert.ok(total <= g.budget.maxTrials);
  const m = builtinPlan('micro');
  assert.equal(m.phases.length, 3);
  assert.equal(m.budget.steps, 12);
  assert.deepEqual(m.evaluation, { evalWindows: 4, testWindows: 4 });
  assert.deepEqual(m.phases[2], { name: 'final validation', final: { top: 2, stepsFactor: 2 } });
  m.name = 'changed';
  assert.equal(BUILTIN_PLANS['micro']!.name, 'micro');
  assert.throws(
    () => builtinPlan('nope'),
    (e: unknown) => e instanceof ConfigError && /unknown built-in plan "nope"; known: genkidama-tiny, micro/.test(e.message),
  );
});
