import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../util/errors.js';
import { type ConfigOf, type Field, type Schema, describeAllowed } from './schema.js';

/** Where a value came from, lowest precedence first. */
export type Source = 'default' | 'config/default.json' | 'config file' | 'env' | 'flag' | 'network spec';

/** Partial values keyed "group.key" (flags and env arrive flat; files arrive nested). */
export type Layer = Record<string, unknown>;

export interface LoadInput {
  repoDefaultsFile?: string | undefined;
  configFile?: string | undefined;
  env: NodeJS.ProcessEnv;
  flags: Layer;
  /**
   * Values a network spec fixes (`name` says which network). They win over every other source, and an operator's
   * own setting (config file, env, flag) of one of them to another value is an error naming both.
   */
  fixed?: { layer: Layer; name: string } | undefined;
}

/** Merges defaults < config/default.json < --config file < MAGNET_* env < flags, validating every value. */
export function loadConfig<S extends Schema>(schema: S, input: LoadInput): ConfigOf<S> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [g, group] of Object.entries(schema)) {
    out[g] = {};
    for (const [k, f] of Object.entries(group)) out[g][k] = f.default;
  }
  /** The operator's own settings (not the defaults): the ones a network spec may not contradict. */
  const set = new Map<string, { value: unknown; source: Source }>();
  const apply = (layer: Layer, source: Source) => {
    for (const [path, raw] of Object.entries(layer)) {
      if (raw === undefined) continue;
      const [g, k] = splitPath(path);
      const field = schema[g]?.[k];
      if (!field)
        throw new ConfigError(`unknown config key "${path}" (from ${source}); known keys: ${knownKeys(schema, g)}`, { key: path });
      const value = coerce(field, raw, path, source);
      (out[g] as Record<string, unknown>)[k] = value;
      if (source !== 'config/default.json') set.set(path, { value, source });
    }
  };
  if (input.repoDefaultsFile) apply(readJsonLayer(input.repoDefaultsFile, 'config/default.json', schema), 'config/default.json');
  if (input.configFile) apply(readJsonLayer(input.configFile, 'config file', schema), 'config file');
  apply(envLayer(schema, input.env), 'env');
  apply(input.flags, 'flag');
  if (input.fixed) {
    const own = new Map(set);
    apply(input.fixed.layer, 'network spec');
    for (const [path, spec] of Object.entries(input.fixed.layer)) {
      const mine = own.get(path);
      const fixedValue = set.get(path)?.value;
      if (mine && JSON.stringify(mine.value) !== JSON.stringify(fixedValue))
        throw new ConfigError(
          `${path} is ${JSON.stringify(mine.value)} (from ${mine.source}), but network ${input.fixed.name} fixes it at ${JSON.stringify(spec)}: drop that setting, or join another network`,
          { key: path, source: mine.source },
        );
    }
  }
  return out as ConfigOf<S>;
}

function splitPath(path: string): [string, string] {
  const i = path.indexOf('.');
  return i < 0 ? [path, ''] : [path.slice(0, i), path.slice(i + 1)];
}

function knownKeys(schema: Schema, group: string): string {
  const g = schema[group];
  if (!g) return `groups ${Object.keys(schema).join(', ')}`;
  return Object.keys(g)
    .map((k) => `${group}.${k}`)
    .join(', ');
}

function readJsonLayer(file: string, source: Source, schema: Schema): Layer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read ${source} ${file}: ${errorMessage(err)}`, { file });
  }
  if (!isObject(parsed)) throw new ConfigError(`${source} ${file} must hold a JSON object of groups`, { file });
  const layer: Layer = {};
  for (const [g, group] of Object.entries(parsed)) {
    if (g.startsWith('$')) continue; // "$comment" and similar
    // An unknown group is refused even when empty: a misspelt group would otherwise be ignored without a word.
    if (!schema[g])
      throw new ConfigError(`${source} ${file}: unknown config group "${g}"; known groups: ${Object.keys(schema).join(', ')}`, { key: g });
    if (!isObject(group)) throw new ConfigError(`${source} ${file}: "${g}" must be an object of options`, { key: g });
    for (const [k, v] of Object.entries(group)) layer[`${g}.${k}`] = v;
  }
  return layer;
}

function envLayer(schema: Schema, env: NodeJS.ProcessEnv): Layer {
  const layer: Layer = {};
  for (const [g, group] of Object.entries(schema)) {
    for (const [k, f] of Object.entries(group)) {
      if (f.env && env[f.env] !== undefined && env[f.env] !== '') layer[`${g}.${k}`] = env[f.env];
    }
  }
  return layer;
}

/** Checks one value against its field (numbers and lists arrive as text from env and flags); throws naming `key`. */
export function coerce(f: Field<unknown>, raw: unknown, key: string, source: Source): unknown {
  const fail = (): never => {
    const shown = f.secret ? '<redacted>' : JSON.stringify(raw);
    throw new ConfigError(`invalid value for ${key} (from ${source}): ${shown}; allowed: ${describeAllowed(f)}`, { key, source });
  };
  let v: unknown = raw;
  const fromText = typeof raw === 'string' && (source === 'env' || source === 'flag');
  switch (f.kind) {
    case 'integer':
    case 'number':
      if (fromText) v = (raw as string).trim() === '' ? NaN : Number(raw);
      if (typeof v !== 'number' || !Number.isFinite(v)) fail();
      if (f.kind === 'integer' && !Number.isInteger(v)) fail();
      if ((f.min !== undefined && (v as number) < f.min) || (f.max !== undefined && (v as number) > f.max)) fail();
      break;
    case 'boolean':
      if (fromText) v = raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
      if (typeof v !== 'boolean') fail();
      break;
    case 'list':
      if (fromText)
        v = (raw as string)
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) fail();
      break;
    case 'choice':
      if (typeof v !== 'string' || !f.choices?.includes(v)) fail();
      break;
    default:
      if (typeof v !== 'string') fail();
  }
  const problem = f.check?.(v);
  if (problem) {
    const shown = f.secret ? '<redacted>' : JSON.stringify(raw);
    throw new ConfigError(`invalid value for ${key} (from ${source}): ${shown}; ${problem}`, { key, source });
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The config as it may be logged or shown: secrets replaced. */
export function redactConfig<S extends Schema>(schema: S, config: ConfigOf<S>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [g, group] of Object.entries(schema)) {
    out[g] = {};
    for (const [k, f] of Object.entries(group)) {
      const v = (config as Record<string, Record<string, unknown>>)[g]?.[k];
      out[g][k] = f.secret && v !== '' ? '<redacted>' : v;
    }
  }
  return out;
}
