/**
 * Canonical JSON: keys sorted at every level, no whitespace, `$` keys ("$comment") and undefined values left out.
 * Two programs that mean the same value write the same bytes: what a network id and a signed record hash.
 */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => !k.startsWith('$') && o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
