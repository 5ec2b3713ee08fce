import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { bearerToken, tokenMatches } from './admin-token.js';
import type { GateRefusal, RequestGate } from './gate.js';

/** True for addresses only this machine can reach: the admin listener binds nothing else. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

const refuse = (status: number, message: string, type: string): { refuse: GateRefusal } => ({ refuse: { status, message, type } });

/**
 * The admin listener's checks, in order: no browser origin (a cross-site page never reaches it; the dashboard's own
 * same-origin GETs carry none), a Host that names this machine (DNS rebinding), then the bearer token from the node's
 * home directory, except on open routes.
 */
export class AdminGate implements RequestGate {
  constructor(
    private readonly token: string,
    /** The port the admin listener bound, for the Host allowlist. */
    private readonly port: () => number,
  ) {}

  admit(req: IncomingMessage, routed?: { open: boolean }): { refuse: GateRefusal } | { release?: () => void } {
    if (req.headers.origin !== undefined)
      return refuse(
        403,
        `admin requests from a browser page are refused (Origin: ${String(req.headers.origin).slice(0, 100)})`,
        'permission_error',
      );
    const host = req.headers.host;
    if (!host || !this.hostAllowed(host))
      return refuse(
        403,
        `Host "${String(host ?? '').slice(0, 100)}" is not this node's admin address (use 127.0.0.1, localhost or [::1])`,
        'permission_error',
      );
    // Open routes (the dashboard's page and its static files, health probes) carry no data: a browser loads them by
    // navigation, which cannot send the token. The page then reads everything else with it.
    if (routed?.open) return {};
    const presented = bearerToken(req.headers.authorization);
    if (presented === undefined)
      return refuse(
        401,
        'the admin API needs "Authorization: Bearer TOKEN" (the token is in admin.token in the node\'s home)',
        'authentication_error',
      );
    if (!tokenMatches(presented, this.token)) return refuse(401, 'wrong admin token', 'authentication_error');
    return {};
  }

  private hostAllowed(header: string): boolean {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(header) ?? /^([^:]+)(?::(\d+))?$/.exec(header);
    if (!m) return false;
    const [, name, port] = m;
    if (port !== undefined && Number(port) !== this.port()) return false;
    return isLoopbackHost((name as string).toLowerCase());
  }
}
