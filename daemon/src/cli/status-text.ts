/**
 * `magnet-node status` for people: one short section per part, each line a fact, no JSON (`--json` has it all).
 * Every field is read defensively: a part that is off or older than this CLI leaves its section short, not broken.
 */
type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown, none = '–'): string => (v === null || v === undefined || v === '' ? none : String(v));
const short = (v: unknown, n = 12): string => (typeof v === 'string' && v.length > n ? `${v.slice(0, n)}…` : str(v));
const loss = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(4) : '–');
const counts = (v: unknown): string =>
  Object.entries(obj(v))
    .map(([k, n]) => `${k} ${String(n)}`)
    .join(', ') || 'none';

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function formatStatus(s: Obj): string {
  const out: string[] = [];
  const section = (title: string, rows: [string, string][]) => {
    out.push(title);
    for (const [k, v] of rows) out.push(`  ${k.padEnd(12)} ${v}`);
  };
  const listen = obj(s['listen']);
  const net = obj(s['network']);
  section('node', [
    ['id', str(s['nodeId'])],
    ['wallet', str(s['address'])],
    ['version', `${str(s['version'])}, up ${duration(Number(s['uptimeSeconds'] ?? 0))}`],
    ['tier', `${str(s['tier'])}, roles ${arr(s['roles']).join(', ') || 'none'}`],
    ['network', net['id'] ? `${short(net['id'])}${net['name'] ? ` "${str(net['name'])}"` : ''} (${str(net['source'])})` : '–'],
    ...Object.entries(listen).map(([k, v]): [string, string] => [k, arr(v).length ? arr(v).join(' ') : str(v)]),
  ]);

  const peers = arr(obj(s['net'])['peers']).map(obj);
  const live = peers.filter((p) => p['state'] === 'live').length;
  section(
    `peers (${live} live of ${peers.length})`,
    peers
      .slice(0, 12)
      .map((p): [string, string] => [
        short(p['nodeId'], 21),
        `${str(p['state'])}${p['member'] ? ', member' : ''}, ${str(p['tier'])}, ${arr(p['roles']).join('/') || 'no roles'}, failures ${str(p['failures'], '0')}`,
      ]),
  );
  if (peers.length > 12) out.push(`  … ${peers.length - 12} more (magnet-node peers)`);

  const d = obj(s['diloco']);
  if (Object.keys(d).length) {
    const latest = obj(d['latest']);
    const train = obj(d['lastTrain']);
    section('rounds', [
      [
        'round',
        d['unavailable']
          ? `off: ${str(d['unavailable'])}`
          : d['enabled'] === false
            ? 'off (diloco.enabled false)'
            : `${str(d['round'])}, ${str(d['state'])}, leader ${short(d['leader'], 21)}`,
      ],
      ['latest', latest['sha256'] ? `round ${str(latest['round'])}, ${short(latest['sha256'])}` : 'none yet'],
      [
        'last train',
        train['round'] !== undefined
          ? `round ${str(train['round'])}: loss ${loss(train['lossFirst'])} -> ${loss(train['lossLast'])} in ${str(train['seconds'])} s`
          : '–',
      ],
      ['quorum', `${str(obj(d['quorum'])['votes'])} votes of ${str(obj(d['quorum'])['members'])} members`],
      ...(d['waitingForData'] ? [['data', str(d['waitingForData'])] as [string, string]] : []),
      ...(d['lastError'] ? [['last error', str(d['lastError'])] as [string, string]] : []),
    ]);
  }

  const st = obj(s['storage']);
  if (Object.keys(st).length) {
    const blobs = obj(st['blobs']);
    const coding = obj(st['coding']);
    const disk = obj(st['disk']);
    const kubo = st['kubo'] ? obj(st['kubo']) : undefined;
    section('storage', [
      ['blobs', `${str(blobs['blobs'], '0')} (${str(blobs['active'], '0')} active; by priority: ${counts(blobs['byPriority'])})`],
      [
        'coding',
        `${str(coding['k'])} data + ${str(coding['m'])} parity, ${str(coding['replicas'])} copies; ${str(obj(st['holders'])['live'])} live holders`,
      ],
      ['kubo', kubo ? `${kubo['up'] ? 'up' : 'DOWN'} at ${str(kubo['api'])}, ${str(kubo['pending'], '0')} pending` : 'embedded store'],
      [
        'disk',
        typeof disk['freeBytes'] === 'number'
          ? `${(Number(disk['freeBytes']) / 2 ** 30).toFixed(1)} GiB free${disk['low'] ? ' (LOW: shards refused)' : ''}`
          : '–',
      ],
    ]);
  }

  const sv = obj(s['serve']);
  if (Object.keys(sv).length) {
    const model = sv['model'] ? obj(sv['model']) : undefined;
    section('serving', [
      ['serving', sv['serving'] ? `yes, kernel ${str(sv['kernel'])}` : `no${sv['unavailable'] ? `: ${str(sv['unavailable'])}` : ''}`],
      ['model', model ? `round ${str(model['round'])}, ${short(model['checkpointSha256'])}` : 'none loaded'],
      [
        'requests',
        `${str(sv['requests'], '0')} (${str(sv['rejected'], '0')} rejected), ${str(sv['completionTokens'], '0')} tokens generated`,
      ],
    ]);
  }

  const c = obj(s['chain']);
  if (Object.keys(c).length)
    section('chain', [
      ['state', str(c['state'])],
      ['claims', `${counts(c['claims'])}; ${str(c['contributions'], '0')} contributions`],
      ...(c['lastError'] ? [['last error', str(c['lastError'])] as [string, string]] : []),
    ]);
  return `${out.join('\n')}\n`;
}
