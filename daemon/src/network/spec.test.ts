import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dilocoOptions } from '../diloco/options.js';
import { membershipOptions } from '../membership/options.js';
import { ConfigError } from '../util/errors.js';
import { canonicalJson, networkIdOf, parseSpec, specFromConfig, specLayer } from './spec.js';

const defaults = (key: string): unknown => {
  const [g, k] = key.split('.') as [string, string];
  const group = (g === 'membership' ? membershipOptions : dilocoOptions) as Record<string, { default: unknown }>;
  return group[k]?.default;
};

test('a spec missing values takes the defaults, so its id is the id of the full spec; key order does not matter', () => {
  const full = specFromConfig(defaults, { name: 'lab', withMembers: false });
  const short = parseSpec(JSON.stringify({ magnetNetwork: 1, name: 'lab' }), 'short.json');
  assert.deepEqual(short, full);
  assert.equal(networkIdOf(short), networkIdOf(full));
  assert.match(networkIdOf(full), /^[0-9a-f]{64}$/);
  const reordered = parseSpec(JSON.stringify({ round: { batch: 8, innerSteps: 100 }, name: 'lab', magnetNetwork: 1 }), 'r.json');
  assert.equal(networkIdOf(reordered), networkIdOf(full));
  assert.equal(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }), '{"a":[2,{"c":4,"d":3}],"b":1}');
});

test('every value changes the id: name, a round setting, the member list', () => {
  const base = networkIdOf(parseSpec('{"magnetNetwork":1}', 'a'));
  const ids = [
    '{"magnetNetwork":1,"name":"x"}',
    '{"magnetNetwork":1,"round":{"innerSteps":50}}',
    '{"magnetNetwork":1,"round":{"innerLr":0.001}}',
    '{"magnetNetwork":1,"membership":{"members":[]}}',
    '{"magnetNetwork":1,"model":{"seed":1}}',
    '{"magnetNetwork":1,"data":{"source":"generated"}}',
    '{"magnetNetwork":1,"model":{"shape":"dim=512,n_layers=2"}}',
  ].map((t) => networkIdOf(parseSpec(t, 'b')));
  assert.equal(new Set([base, ...ids]).size, 8);
  // model.shape came after ids were in use: empty, it is left out, so every spec written before keeps its id.
  assert.equal(networkIdOf(parseSpec('{"magnetNetwork":1,"model":{"shape":""}}', 'c')), base);
  assert.equal(specLayer(parseSpec('{"magnetNetwork":1}', 'd'))['diloco.modelShape'], '');
  assert.throws(() => parseSpec('{"magnetNetwork":1,"model":{"shape":"dim=abc"}}', 'e'), /model\.shape/);
});

test('bad specs: one line naming the file and the key', () => {
  const bad = (text: string, re: RegExp) =>
    assert.throws(
      () => parseSpec(text, 'net.json'),
      (e: unknown) => e instanceof ConfigError && re.test(e.message) && !e.message.includes('\n'),
    );
  bad('{"magnetNetwork":1,"rounds":{}}', /network spec net\.json: unknown key "rounds"; known keys: magnetNetwork, name/);
  bad('{"magnetNetwork":1,"round":{"innerStep":5}}', /unknown key "round\.innerStep"; known keys in round: innerSteps/);
  bad('{"magnetNetwork":1,"round":{"innerSteps":0}}', /invalid value for round\.innerSteps: 0; allowed: an integer in 1\.\.1000000/);
  bad('{"magnetNetwork":1,"round":{"compression":"zip"}}', /invalid value for round\.compression: "zip"; allowed: one of none, fp16, int8/);
  bad('{"magnetNetwork":1,"model":{"preset":"huge"}}', /invalid value for model\.preset: "huge"/);
  bad('{"magnetNetwork":1,"model":{"genesisSha256":"xyz"}}', /model\.genesisSha256: "xyz"; 64 lowercase hex digits/);
  bad('{"magnetNetwork":1,"membership":{"members":["bob"]}}', /membership\.members: \["bob"\]; wallet addresses/);
  bad('{"magnetNetwork":1,"tokenizer":"bpe"}', /invalid value for tokenizer: "bpe"; allowed: one of bytes/);
  bad('{"magnetNetwork":2}', /"magnetNetwork" must be 1/);
  bad('{"magnetNetwork":1,"chain":{"deployment":{}}}', /chain\.deployment must be the deployment/);
  bad('[1]', /must hold a JSON object/);
  bad('{"magnetNetwork":1,', /is not JSON/);
});

test('the config a spec fixes: its model, data and round values, and its members only when it lists them', () => {
  const open = specLayer(parseSpec('{"magnetNetwork":1,"round":{"innerSteps":7}}', 'a'));
  assert.equal(open['diloco.innerSteps'], 7);
  assert.equal(open['diloco.preset'], 'tiny');
  assert.equal(open['diloco.dataAssignment'], 'hash');
  assert.equal('membership.members' in open, false, "no member list: each node's own settings decide");
  const closed = specLayer(parseSpec('{"magnetNetwork":1,"membership":{"members":["node-0123456789abcdef"]}}', 'b'));
  assert.deepEqual(closed['membership.members'], ['node-0123456789abcdef']);
});
