import { type DaemonEndpoint, adminFetch, readDaemonEndpoint } from '../api/daemon-endpoint.js';
import { MagnetError } from '../util/errors.js';
import { HomeDir } from '../node/home.js';

/** Finds the running daemon from its home directory (the api.json and admin.token it writes at start). */
export function daemonEndpoint(home: string): DaemonEndpoint {
  return readDaemonEndpoint(new HomeDir(home));
}

/**
 * Calls an admin route of the running daemon: JSON in (when `body` is given) and JSON out, or a clear error naming
 * what went wrong (no daemon, or the daemon's own error message and code).
 */
export async function callDaemon<T>(
  home: string,
  path: string,
  init: { method?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<T> {
  const ep = daemonEndpoint(home);
  let res: Response;
  try {
    res = await adminFetch(ep, path, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
      ...(init.body !== undefined ? { body: JSON.stringify(init.body), headers: { 'content-type': 'application/json' } } : {}),
    });
  } catch {
    throw new MagnetError('ERR_NO_DAEMON', `no magnet-node daemon answers at ${ep.admin} (home ${home}); is it running?`);
  }
  return daemonAnswer<T>(res);
}

/** The JSON of a daemon answer, or its error (code and message) as a MagnetError. */
export async function daemonAnswer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as T & { error?: { message?: string; code?: string } };
  if (!res.ok)
    throw new MagnetError(body.error?.code ?? 'ERR_DAEMON', `the daemon answered ${res.status}: ${body.error?.message ?? 'no details'}`);
  return body;
}
