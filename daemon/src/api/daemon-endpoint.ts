import { readFileSync } from 'node:fs';
import { MagnetError } from '../util/errors.js';
import { readAdminToken } from './admin-token.js';

/** Where a running daemon answers, read from its home directory (api.json, admin.token). */
export interface DaemonEndpoint {
  /** Public listener base URL (/v1, /healthz, /readyz). */
  api: string;
  /** Admin listener base URL (everything else). */
  admin: string;
  /** The admin bearer token. */
  token: string;
  pid: number;
  nodeId: string;
}

/** The files a daemon's home holds for its clients (HomeDir has both). */
export interface EndpointFiles {
  root: string;
  apiFile: string;
  adminTokenFile: string;
}

/** Reads the endpoint the daemon of `home` wrote at start; a clear error when none runs there. */
export function readDaemonEndpoint(home: EndpointFiles): DaemonEndpoint {
  let info: Partial<DaemonEndpoint>;
  try {
    info = JSON.parse(readFileSync(home.apiFile, 'utf8')) as Partial<DaemonEndpoint>;
  } catch {
    throw new MagnetError(
      'ERR_NO_DAEMON',
      `no magnet-node daemon is running on ${home.root} (start one with "magnet-node start --home ${home.root}")`,
    );
  }
  if (!info.admin || !info.api) throw new MagnetError('ERR_NO_DAEMON', `${home.apiFile} does not name the daemon's HTTP addresses`);
  return { api: info.api, admin: info.admin, pid: info.pid ?? 0, nodeId: info.nodeId ?? '', token: readAdminToken(home.adminTokenFile) };
}

/** fetch() against the admin listener with the bearer token. */
export function adminFetch(ep: Pick<DaemonEndpoint, 'admin' | 'token'>, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${ep.token}`);
  return fetch(`${ep.admin}${path}`, { ...init, headers });
}
