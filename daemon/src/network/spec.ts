import { createHash } from 'node:crypto';
import { coerce } from '../config/load.js';
import type { Field } from '../config/schema.js';
import type { Layer } from '../config/load.js';
import { dilocoOptions } from '../diloco/options.js';
import { membershipOptions } from '../membership/options.js';
import { canonicalJson } from '../util/canonical-json.js';
import { ConfigError } from '../util/errors.js';

/**
 * A network spec: everything the members of one network must agree on (model, tokenizer, data, every round
 * hyperparameter, and optionally who the members are and which chain deployment pays them). Its network id is the
 * SHA-256 of its canonical JSON once every value is filled in, so two nodes with the same id train the same thing.
 */
export interface NetworkSpec {
  magnetNetwork: 1;
  name: string;
  /** How text becomes token ids; the trainer and the serving kernels know 'bytes' (byte-level, 256 + BOS). */
  tokenizer: 'bytes';
  /** shape: the preset's shape changed key by key (diloco.modelShape); absent when the preset's own. */
  model: { preset: string; seed: number; genesisSha256: string; shape?: string };
  data: { source: string; assignment: string; slices: number };
  round: Record<RoundKey, number | string>;
  /** Absent: each node's own membership settings decide (an operator list, or the chain registry). */
  membership?: { members: string[] };
  /** Absent: each node's own chain settings decide. */
  chain?: { deployment: Record<string, unknown> };
}

/** Where each value of a spec lands in the node config ("group.key"). */
const MODEL = { preset: 'diloco.preset', seed: 'diloco.seed', genesisSha256: 'diloco.genesisSha256', shape: 'diloco.modelShape' } as const;
/** Values left out of a spec (and so of its id) when they are their default: keys added after ids were in use. */
const OMITTED_AT_DEFAULT = new Set(['model.shape']);
const DATA = { source: 'diloco.data', assignment: 'diloco.dataAssignment', slices: 'diloco.dataSlices' } as const;
const ROUND_KEYS = [
  'innerSteps',
  'batch',
  'seq',
  'innerLr',
  'warmup',
  'outerLr',
  'momentum',
  'compression',
  'roundTimeoutSec',
  'announceGraceSec',
  'quorum',
  'voteQuorum',
  'maxGradNorm',
  'outlierRatio',
  'verifyLossTolerance',
  'verifyWindows',
] as const;
type RoundKey = (typeof ROUND_KEYS)[number];
const MEMBERSHIP = { members: 'membership.members' } as const;

const TOP_KEYS = ['magnetNetwork', 'name', 'tokenizer', 'model', 'data', 'round', 'membership', 'chain'] as const;
const TOKENIZERS = ['bytes'];

/** The field behind a config key, for checking a spec's value with the same rules as the config's. */
function fieldOf(key: string): Field<unknown> {
  const [g, k] = key.split('.') as [string, string];
  const group = (g === 'membership' ? membershipOptions : dilocoOptions) as Record<string, Field<unknown>>;
  return group[k] as Field<unknown>;
}

/** Every value a spec fixes, as "spec path" -> "config key". */
function mapping(spec: Pick<NetworkSpec, 'membership'>): [string, string][] {
  const out: [string, string][] = [
    ...Object.entries(MODEL).map(([k, v]) => [`model.${k}`, v] as [string, string]),
    ...Object.entries(DATA).map(([k, v]) => [`data.${k}`, v] as [string, string]),
    ...ROUND_KEYS.map((k) => [`round.${k}`, `diloco.${k}`] as [string, string]),
  ];
  if (spec.membership) out.push(...Object.entries(MEMBERSHIP).map(([k, v]) => [`membership.${k}`, v] as [string, string]));
  return out;
}

/** The values of `config` that a spec would fix, read by config key ("group.key"). */
export type ConfigReader = (key: string) => unknown;

/**
 * The spec a node's own settings describe. Used by `network init` (defaults plus its flags) and, with no network
 * configured, as the node's implicit network: nodes whose round settings differ get different ids and refuse each
 * other by name instead of training on different bases.
 */
export function specFromConfig(read: ConfigReader, opts: { name: string; withMembers: boolean }): NetworkSpec {
  const group = (map: Record<string, string>, g: string) =>
    Object.fromEntries(
      Object.entries(map)
        .map(([k, key]) => [k, read(key)])
        .filter(([k, v]) => !(OMITTED_AT_DEFAULT.has(`${g}.${k as string}`) && v === fieldOf(map[k as string] as string).default)),
    );
  return {
    magnetNetwork: 1,
    name: opts.name,
    tokenizer: 'bytes',
    model: group(MODEL, 'model') as NetworkSpec['model'],
    data: group(DATA, 'data') as NetworkSpec['data'],
    round: Object.fromEntries(ROUND_KEYS.map((k) => [k, read(`diloco.${k}`)])) as NetworkSpec['round'],
    ...(opts.withMembers ? { membership: group(MEMBERSHIP, 'membership') as NetworkSpec['membership'] } : {}),
  };
}

/**
 * Parses and checks a spec (`where` names its file in errors). Each value is checked by the same rules as the config
 * option it sets; a missing round or model value takes that option's default (so the id covers it); an unknown key
 * or a bad value is one line naming it.
 */
export function parseSpec(text: string, where: string): NetworkSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`network spec ${where} is not JSON: ${(err as Error).message}`, { file: where });
  }
  const bad = (msg: string, key?: string): never => {
    throw new ConfigError(`network spec ${where}: ${msg}`, { file: where, ...(key ? { key } : {}) });
  };
  if (!isObject(raw)) return bad('must hold a JSON object');
  checkKeys(raw, TOP_KEYS, '', bad);
  if (raw['magnetNetwork'] !== 1)
    bad(`"magnetNetwork" must be 1 (the spec format version), not ${JSON.stringify(raw['magnetNetwork'])}`, 'magnetNetwork');
  const name = raw['name'] ?? '';
  if (typeof name !== 'string' || name.length > 64 || [...name].some((ch) => ch < ' '))
    bad('"name" must be a string of at most 64 printable characters', 'name');
  const tokenizer = raw['tokenizer'] ?? 'bytes';
  if (typeof tokenizer !== 'string' || !TOKENIZERS.includes(tokenizer))
    bad(`invalid value for tokenizer: ${JSON.stringify(tokenizer)}; allowed: one of ${TOKENIZERS.join(', ')}`, 'tokenizer');
  const group = (g: string, required: boolean): Record<string, unknown> | undefined => {
    const v = raw[g];
    if (v === undefined) return required ? {} : undefined;
    if (!isObject(v)) return bad(`"${g}" must be an object`, g);
    return v;
  };
  const groups = {
    model: group('model', true),
    data: group('data', true),
    round: group('round', true),
    membership: group('membership', false),
  };
  const spec: Record<string, unknown> = { magnetNetwork: 1, name, tokenizer };
  for (const [g, keys] of [
    ['model', Object.keys(MODEL)],
    ['data', Object.keys(DATA)],
    ['round', [...ROUND_KEYS]],
    ['membership', Object.keys(MEMBERSHIP)],
  ] as [keyof typeof groups, string[]][]) {
    const values = groups[g];
    if (!values) continue;
    checkKeys(values, keys, `${g}.`, bad);
    const out: Record<string, unknown> = {};
    for (const [path, key] of mapping({ membership: { members: [] } }).filter(([p]) => p.startsWith(`${g}.`))) {
      const k = path.slice(g.length + 1);
      const f = fieldOf(key);
      try {
        out[k] = values[k] === undefined ? f.default : coerce(f, values[k], path, 'network spec');
        if (OMITTED_AT_DEFAULT.has(path) && out[k] === f.default) delete out[k];
      } catch (err) {
        bad((err as Error).message.replace(' (from network spec)', ''), path);
      }
    }
    spec[g] = out;
  }
  const chain = raw['chain'];
  if (chain !== undefined) {
    if (!isObject(chain)) return bad('"chain" must be an object', 'chain');
    checkKeys(chain, ['deployment'], 'chain.', bad);
    const d = chain['deployment'];
    if (!isObject(d) || !isObject(d['addresses']) || !/^\d+$/.test(String(d['chainId'])))
      bad('chain.deployment must be the deployment `magnet-node chain deploy` wrote (chainId, addresses)', 'chain.deployment');
    spec['chain'] = { deployment: d };
  }
  return spec as unknown as NetworkSpec;
}

function checkKeys(o: Record<string, unknown>, known: readonly string[], prefix: string, bad: (msg: string, key?: string) => never): void {
  for (const k of Object.keys(o)) {
    if (k.startsWith('$')) continue; // "$comment"
    if (!known.includes(k))
      bad(`unknown key "${prefix}${k}"; known keys${prefix ? ` in ${prefix.slice(0, -1)}` : ''}: ${known.join(', ')}`, `${prefix}${k}`);
  }
}

/** The network id hashes exactly these bytes. */
export { canonicalJson };

/** The network id: lowercase hex SHA-256 of the spec's canonical JSON. */
export function networkIdOf(spec: NetworkSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/** How an id is shown to people: its first 12 hex digits. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** The config values a spec fixes, as a layer for the config loader (chain.deployment is added by whoever wrote it to disk). */
export function specLayer(spec: NetworkSpec): Layer {
  const layer: Layer = {};
  for (const [path, key] of mapping(spec)) {
    const [g, k] = path.split('.') as [string, string];
    const v = (spec as unknown as Record<string, Record<string, unknown>>)[g]?.[k];
    // A value left out at its default (model.shape) still fixes the option: a node's own setting cannot change it.
    layer[key] = v === undefined && OMITTED_AT_DEFAULT.has(path) ? fieldOf(key).default : v;
  }
  return layer;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
