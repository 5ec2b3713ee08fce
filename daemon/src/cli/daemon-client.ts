import { readFileSync } from 'node:fs';
import { MagnetError } from '../util/errors.js';
import { HomeDir } from '../node/home.js';

/** Finds the running daemon from its home directory (the api.json it writes at start). */
export function daemonUrl(home: string): string {
  const h = new HomeDir(home);
  let info: { http?: string };
  try {
    info = JSON.parse(readFileSync(h.apiFile, 'utf8')) as { http?: string };
  } catch {
    throw new MagnetError('ERR_NO_DAEMON', `no magnet-node daemon is running on ${h.root} (start one with "magnet-node start --home ${h.root}")`);
  }
  if (!info.http) throw new MagnetError('ERR_NO_DAEMON', `${h.apiFile} does not name the daemon's HTTP address`);
  return info.http;
}

/** GET or POST a JSON path of the running daemon; a clear error when it does not answer. */
export async function callDaemon<T>(home: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const base = daemonUrl(home);
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      signal: AbortSignal.timeout(10_000),
      ...(init.body !== undefined ? { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } } : {}),
    });
  } catch {
    throw new MagnetError('ERR_NO_DAEMON', `no magnet-node daemon answers at ${base} (home ${home}); is it running?`);
  }
  const body = (await res.json().catch(() => ({}))) as T & { error?: { message?: string } };
  if (!res.ok) throw new MagnetError('ERR_DAEMON', `the daemon answered ${res.status}: ${body.error?.message ?? 'no details'}`);
  return body;
}
