import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { type Route, httpError, sendJson } from '../api/routes.js';
import { REPO_ROOT } from '../version.js';

/** Where the page lives: plain files, no build step (web/dashboard). */
export const DASHBOARD_DIR = join(REPO_ROOT, 'web', 'dashboard');

/** What the dashboard shows: the node's status and the loss curve, in one snapshot. */
export interface DashboardSource {
  status(): Record<string, unknown>;
  /** Held-out loss of each merge this node judged, oldest first. */
  losses(): unknown[];
}

const FILES: Record<string, { file: string; type: string }> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/** The page may load only its own files and talk only to its own origin; nobody may frame it. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Seconds between snapshots on the live stream. */
const PUSH_MS = 2000;
/** Live streams open at once (the admin listener is the operator's; this bounds a forgotten tab storm). */
const MAX_STREAMS = 16;

/**
 * The dashboard on the admin listener: the page and its static files (open: they hold no data), a snapshot
 * (`/dashboard/state`) and a live stream of snapshots as server-sent events (`/dashboard/events`), both behind the
 * admin token like every other admin route. The page takes the token from its URL fragment (`magnet-node dashboard`
 * prints that URL), which never reaches a server or a log.
 */
export function dashboardRoutes(source: DashboardSource): Route[] {
  let streams = 0;
  const snapshot = () => ({ at: Date.now(), status: source.status(), losses: source.losses() });
  const files: Route[] = Object.entries(FILES).map(([path, f]) => ({
    method: 'GET' as const,
    path,
    open: true,
    handle: async (_req, res: ServerResponse) => {
      const body = readFileSync(join(DASHBOARD_DIR, f.file));
      res.writeHead(200, { ...PAGE_HEADERS, 'content-type': f.type, 'content-length': body.length });
      res.end(body);
    },
  }));
  return [
    ...files,
    { method: 'GET', path: '/dashboard/state', handle: async (_req, res) => sendJson(res, 200, snapshot()) },
    {
      method: 'GET',
      path: '/dashboard/events',
      handle: async (_req, res) => {
        if (streams >= MAX_STREAMS) throw httpError(429, `${MAX_STREAMS} dashboard streams are open already`);
        streams++;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
        const push = () => {
          if (!res.destroyed) res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
        };
        res.write(`retry: 3000\n\n`);
        push();
        const timer = setInterval(push, PUSH_MS);
        await new Promise<void>((resolve) =>
          res.once('close', () => {
            clearInterval(timer);
            streams--;
            resolve();
          }),
        );
      },
    },
  ];
}
