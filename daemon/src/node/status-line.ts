/** The one line a running node logs every minute: what an operator watching the terminal wants at a glance. */
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});

export function statusLine(s: Obj): string {
  const peers = (Array.isArray(obj(s['net'])['peers']) ? (obj(s['net'])['peers'] as unknown[]) : []).map(obj);
  const parts = [`${peers.filter((p) => p['state'] === 'live').length}/${peers.length} peers live`];
  const d = obj(s['diloco']);
  if (d['unavailable']) parts.push('rounds off (no trainer)');
  else if (d['enabled'] === false) parts.push('rounds off');
  else if (d['round'] !== undefined) {
    const latest = obj(d['latest']);
    const train = obj(d['lastTrain']);
    parts.push(`round ${String(d['round'])} ${String(d['state'])}`);
    if (latest['sha256']) parts.push(`latest round ${String(latest['round'])}`);
    if (typeof train['lossLast'] === 'number') parts.push(`training loss ${train['lossLast'].toFixed(3)}`);
  }
  const sv = obj(s['serve']);
  const model = obj(sv['model']);
  parts.push(sv['serving'] ? `serving round ${String(model['round'] ?? '–')} (${String(sv['requests'] ?? 0)} requests)` : 'not serving');
  const c = obj(s['chain']);
  if (c['configured']) parts.push(`${String(c['waiting'] ?? 0)} claims waiting`);
  return `status: ${parts.join(', ')}`;
}
