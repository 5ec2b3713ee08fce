import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { type HostPort, formatHostPort } from '../util/host-port.js';
import type { Startable } from '../util/lifecycle.js';
import { type Route, sendJson } from './routes.js';

export interface HttpApiOptions {
  listen: HostPort;
}

/** The node's local HTTP API: a plain node:http server dispatching to the routes parts contribute. */
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
        if (err.code === 'EADDRINUSE') reject(new MagnetError('ERR_PORT_IN_USE', `HTTP API port ${where} is already in use; choose another with --http HOST:PORT (port 0 picks a free one)`));
        else reject(new MagnetError('ERR_LISTEN', `cannot listen for the HTTP API on ${where}: ${err.message}`));
      });
      server.listen(this.opts.listen.port, this.opts.listen.host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    this.bound = { host: this.opts.listen.host, port: addr.port };
    this.server = server;
    this.log.info({ http: formatHostPort(this.bound) }, 'HTTP API listening');
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
    if (!route) {
      const known = [...this.routes.values()].some((r) => r.path === path);
      sendJson(res, known ? 405 : 404, { error: { message: `${known ? 'method not allowed' : 'not found'}: ${req.method} ${path}`, type: 'invalid_request_error' } });
      return;
    }
    try {
      await route.handle(req, res);
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      if (status >= 500) this.log.error({ err, path }, 'HTTP handler failed');
      if (!res.headersSent) sendJson(res, status, { error: { message: errorMessage(err), type: status >= 500 ? 'server_error' : 'invalid_request_error' } });
      else res.end();
    }
  }
}
