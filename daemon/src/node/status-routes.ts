import type { Route } from '../api/routes.js';
import { sendJson } from '../api/routes.js';
import type { Metrics } from '../metrics/metrics.js';

export interface StatusSource {
  /** Readiness: true once every part has started. */
  ready(): boolean;
  status(): Record<string, unknown>;
}

/** /healthz and /readyz: on both listeners, open on the public one (probes carry no API key). */
export function healthRoutes(node: StatusSource): Route[] {
  return [
    { method: 'GET', path: '/healthz', open: true, handle: async (_req, res) => sendJson(res, 200, { ok: true }) },
    {
      method: 'GET',
      path: '/readyz',
      open: true,
      handle: async (_req, res) => {
        const ready = node.ready();
        sendJson(res, ready ? 200 : 503, { ready });
      },
    },
  ];
}

/** /status and /metrics (admin listener). */
export function statusRoutes(node: StatusSource, metrics: Metrics): Route[] {
  return [
    { method: 'GET', path: '/status', handle: async (_req, res) => sendJson(res, 200, node.status()) },
    {
      method: 'GET',
      path: '/metrics',
      handle: async (_req, res) => {
        const text = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(text);
      },
    },
  ];
}
