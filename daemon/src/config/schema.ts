/**
 * A tiny typed option schema. Each part declares its options once (type, default, range, env var, doc);
 * the loader validates every source against it and the CLI documents it.
 */
export type FieldKind = 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'choice';

export interface Field<T> {
  kind: FieldKind;
  default: T;
  doc: string;
  /** Environment variable that sets this field (documented in the README). */
  env?: string;
  /**
   * The `magnet-node start` flag that sets this field, in commander syntax: '--api <host:port>', or '--no-mdns' for
   * a boolean that is on by default. The CLI builds the flag, its help, default and env var from this field.
   */
  flag?: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** Redacted in logs and /status. */
  secret?: boolean;
  /** Extra check; returns what is allowed when the value is wrong. */
  check?: (value: T) => string | undefined;
}

interface Extra<T> {
  env?: string;
  flag?: string;
  min?: number;
  max?: number;
  secret?: boolean;
  check?: (value: T) => string | undefined;
}

export const str = (def: string, doc: string, x: Extra<string> = {}): Field<string> => ({ kind: 'string', default: def, doc, ...x });
export const int = (def: number, doc: string, x: Extra<number> = {}): Field<number> => ({ kind: 'integer', default: def, doc, ...x });
export const num = (def: number, doc: string, x: Extra<number> = {}): Field<number> => ({ kind: 'number', default: def, doc, ...x });
export const bool = (def: boolean, doc: string, x: Extra<boolean> = {}): Field<boolean> => ({ kind: 'boolean', default: def, doc, ...x });
export const list = (def: string[], doc: string, x: Extra<string[]> = {}): Field<string[]> => ({ kind: 'list', default: def, doc, ...x });
export function choice<const C extends string>(def: C, choices: readonly C[], doc: string, x: Extra<C> = {}): Field<C> {
  return { kind: 'choice', default: def, doc, choices, ...x };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Group = Record<string, Field<any>>;
export type Values<G extends Group> = { [K in keyof G]: G[K] extends Field<infer T> ? T : never };
export type Schema = Record<string, Group>;
export type ConfigOf<S extends Schema> = { [G in keyof S]: Values<S[G]> };

export function describeAllowed(f: Field<unknown>): string {
  switch (f.kind) {
    case 'choice':
      return `one of ${f.choices?.join(', ')}`;
    case 'integer':
    case 'number': {
      const what = f.kind === 'integer' ? 'an integer' : 'a number';
      if (f.min !== undefined && f.max !== undefined) return `${what} in ${f.min}..${f.max}`;
      if (f.min !== undefined) return `${what} >= ${f.min}`;
      if (f.max !== undefined) return `${what} <= ${f.max}`;
      return what;
    }
    case 'boolean':
      return 'true or false';
    case 'list':
      return 'a list of strings (comma-separated in env and flags)';
    default:
      return 'a string';
  }
}
