import type { Route } from '../api/routes.js';
import { sendJson } from '../api/routes.js';
import type { Metrics } from '../metrics/metrics.js';

export interface StatusSource {
  /** Readiness: true once every part has started. */
  ready(): boolean;
  status(): Record<string, unknown>;
}

/** What the probes read: readiness, and optionally why it is not ready (answered with the 503). */
export interface ReadinessSource {
  ready(): boolean;
  unready?(): string | undefined;
}

/** /healthz and /readyz: on both listeners, open on the public one (probes carry no API key). */
export function healthRoutes(node: ReadinessSource): Route[] {
  return [
    { method: 'GET', path: '/healthz', open: true, handle: async (_req, res) => sendJson(res, 200, { ok: true }) },
    {
      method: 'GET',
      path: '/readyz',
      open: true,
      handle: async (_req, res) => {
        const ready = node.ready();
        const why = ready ? undefined : node.unready?.();
        sendJson(res, ready ? 200 : 503, why ? { ready, why } : { ready });
      },
    },
  ];
}

/** /metrics in Prometheus' text format; `open` for a listener whose scraper carries no key. */
export function metricsRoute(metrics: Metrics, open = false): Route {
  return {
    method: 'GET',
    path: '/metrics',
    ...(open ? { open: true } : {}),
    handle: async (_req, res) => {
      const text = await metrics.text();
      res.writeHead(200, { 'content-type': metrics.contentType });
      res.end(text);
    },
  };
}

/** /status and /metrics (admin listener). */
export function statusRoutes(node: StatusSource, metrics: Metrics): Route[] {
  return [{ method: 'GET', path: '/status', handle: async (_req, res) => sendJson(res, 200, node.status()) }, metricsRoute(metrics)];
}
