import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { type HostPort, formatHostPort } from '../util/host-port.js';
import type { Startable } from '../util/lifecycle.js';
import type { RequestGate } from './gate.js';
import { BODY_CONTENT_TYPE, type Route, routeBody, sendJson } from './routes.js';

export interface HttpApiOptions {
  listen: HostPort;
  /** Which listener this is, for logs and errors ("public API", "admin API"). */
  name?: string;
  /** The flag that sets `listen`, named in a port-in-use error. */
  flag?: string;
  /** Who may call, checked on every request before its handler. */
  gate?: RequestGate;
  /** Counts each request refused before its handler (status 401, 403, 415, 429...). */
  onRefused?: (status: number) => void;
}

/**
 * One HTTP listener of the node: a plain node:http server dispatching to the routes parts contribute, after its gate
 * (admin token or API keys) and a content-type check on every request body.
 */
export class HttpApi implements Startable {
  private readonly routes = new Map<string, Route>();
  private server: Server | undefined;
  private bound: HostPort | undefined;

  constructor(
    private readonly opts: HttpApiOptions,
    private readonly log: Logger,
  ) {}

  add(...routes: Route[]): void {
    for (const r of routes) this.routes.set(`${r.method} ${r.path}`, r);
  }

  /** The address actually bound (port 0 resolved). */
  get address(): HostPort {
    if (!this.bound) throw new Error('HTTP API not started');
    return this.bound;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.dispatch(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const where = formatHostPort(this.opts.listen);
        const name = this.opts.name ?? 'HTTP API';
        if (err.code === 'EADDRINUSE')
          reject(
            new MagnetError(
              'ERR_PORT_IN_USE',
              `${name} port ${where} is already in use; choose another with ${this.opts.flag ?? '--api'} HOST:PORT (port 0 picks a free one)`,
            ),
          );
        else reject(new MagnetError('ERR_LISTEN', `cannot listen for the ${name} on ${where}: ${err.message}`));
      });
      server.listen(this.opts.listen.port, this.opts.listen.host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    this.bound = { host: this.opts.listen.host, port: addr.port };
    this.server = server;
    this.log.info({ listen: formatHostPort(this.bound) }, `${this.opts.name ?? 'HTTP API'} listening`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = this.routes.get(`${req.method} ${path}`);
    const admitted = this.opts.gate?.admit(req, route ? { open: route.open === true } : undefined) ?? {};
    if ('refuse' in admitted) {
      const r = admitted.refuse;
      this.log.debug({ remote: req.socket.remoteAddress, path, status: r.status }, `refused: ${r.message}`);
      this.opts.onRefused?.(r.status);
      // connection: close, so an unread (perhaps huge) body is dropped with the socket rather than drained.
      sendJson(res, r.status, { error: { message: r.message, type: r.type } }, { ...r.headers, connection: 'close' });
      return;
    }
    if (admitted.release) res.once('close', admitted.release);
    if (!route) {
      const known = [...this.routes.values()].some((r) => r.path === path);
      sendJson(res, known ? 405 : 404, {
        error: { message: `${known ? 'method not allowed' : 'not found'}: ${req.method} ${path}`, type: 'invalid_request_error' },
      });
      return;
    }
    const body = routeBody(route);
    if (body !== 'none') {
      const want = BODY_CONTENT_TYPE[body];
      const got = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      if (got !== want) {
        const message = `${req.method} ${path} takes a ${want} body, not "${got || 'none'}"`;
        this.opts.onRefused?.(415);
        sendJson(res, 415, { error: { message, type: 'invalid_request_error' } }, { connection: 'close' });
        return;
      }
    }
    try {
      await route.handle(req, res);
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      if (status >= 500) this.log.error({ err, path }, 'HTTP handler failed');
      if (!res.headersSent)
        sendJson(res, status, { error: { message: errorMessage(err), type: status >= 500 ? 'server_error' : 'invalid_request_error' } });
      else res.end();
    }
  }
}
