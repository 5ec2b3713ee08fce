import { ApiError } from './errors.js';

/**
 * The JSON Schema subset JSON mode can enforce while sampling, compiled to the native automaton's compact form
 * (json_constraint.h). Supported: `type` object (properties, in declared order; required; additionalProperties
 * false or absent), array (items), string (and enum of strings), number, integer, boolean, null; annotations
 * (title, description, default, $schema, examples) are ignored. Any other keyword is refused with 400 naming it and
 * where it is, never silently dropped: the answer must match the schema it was given.
 */
const ANNOTATIONS = new Set(['title', 'description', 'default', '$schema', 'examples', '$comment']);
const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'];
const KEYWORDS = new Set(['type', 'enum', 'properties', 'required', 'additionalProperties', 'items']);
const MAX_NODES = 1000;

type Json = Record<string, unknown>;

function refuse(path: string, msg: string): never {
  throw new ApiError(
    400,
    `'response_format' json_schema at ${path}: ${msg}`,
    'invalid_request_error',
    'response_format',
    'unsupported_schema',
  );
}

const hex = (s: string): string => (s === '' ? '-' : Buffer.from(s, 'utf8').toString('hex'));

/** Compiles `schema` (the root must be an object) into lines, one per node, node 0 the root. */
export function compileJsonSchema(schema: unknown): string {
  const lines: string[] = [];
  const compile = (s: unknown, path: string): number => {
    if (lines.length >= MAX_NODES) refuse(path, `more than ${MAX_NODES} schema nodes`);
    if (typeof s !== 'object' || s === null || Array.isArray(s)) refuse(path, 'a schema must be an object');
    const o = s as Json;
    const unknown = Object.keys(o).find((k) => !ANNOTATIONS.has(k) && !KEYWORDS.has(k));
    if (unknown !== undefined) refuse(path, `the keyword '${unknown}' is not supported`);
    const at = lines.length;
    lines.push('');
    const allowed = new Set([...ANNOTATIONS, 'type']);
    let line: string;
    if (o['enum'] !== undefined) {
      allowed.add('enum');
      const values = o['enum'];
      if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'string'))
        refuse(`${path}.enum`, 'only a non-empty list of strings is supported');
      if (o['type'] !== undefined && o['type'] !== 'string') refuse(`${path}.type`, "an enum must be of type 'string'");
      line = `enum ${values.length} ${(values as string[]).map(hex).join(' ')}`;
    } else {
      const type = o['type'];
      if (typeof type !== 'string' || !TYPES.includes(type))
        refuse(`${path}.type`, `must be one of ${TYPES.join(', ')} (a list of types is not supported)`);
      if (type === 'object') {
        for (const k of ['properties', 'required', 'additionalProperties']) allowed.add(k);
        if (o['additionalProperties'] !== undefined && o['additionalProperties'] !== false)
          refuse(`${path}.additionalProperties`, 'only false is supported (the answer has the listed properties only)');
        const props = (o['properties'] ?? {}) as Json;
        if (typeof props !== 'object' || props === null || Array.isArray(props)) refuse(`${path}.properties`, 'must be an object');
        const required = o['required'] ?? [];
        if (!Array.isArray(required) || !required.every((r) => typeof r === 'string' && r in props))
          refuse(`${path}.required`, 'must list names of the properties');
        const parts = Object.entries(props).map(
          ([key, child]) => `${hex(key)} ${compile(child, `${path}.properties.${key}`)} ${required.includes(key) ? 1 : 0}`,
        );
        line = `object ${parts.length}${parts.length ? ' ' : ''}${parts.join(' ')}`;
      } else if (type === 'array') {
        allowed.add('items');
        line = `array ${o['items'] === undefined ? -1 : compile(o['items'], `${path}.items`)}`;
      } else {
        line = type;
      }
    }
    for (const k of Object.keys(o)) if (!allowed.has(k)) refuse(path, `the keyword '${k}' does not apply to this type`);
    lines[at] = line;
    return at;
  };
  if (typeof schema !== 'object' || schema === null || (schema as Json)['type'] !== 'object')
    refuse('$', "the root must be {type: 'object'}");
  compile(schema, '$');
  return lines.join('\n');
}
