import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What a route's request body is. A body route is only reached with the matching content type, so a web page cannot
 * drive it with a "simple" cross-site request (text/plain, form posts) that the browser sends without asking.
 */
export type RouteBody = 'none' | 'json' | 'bytes';

export const BODY_CONTENT_TYPE: Record<Exclude<RouteBody, 'none'>, string> = {
  json: 'application/json',
  bytes: 'application/octet-stream',
};

/** A route on one of the node's HTTP listeners. Parts contribute routes; the server owns the socket. */
export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** The request body it reads (default: none for GET, json otherwise). */
  body?: RouteBody;
  /**
   * Answered without an API key or admin token, outside the per-client limits: health probes, and the dashboard's
   * static page on the admin listener (Origin and Host are still checked there). Never a route that returns data.
   */
  open?: boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function routeBody(r: Route): RouteBody {
  return r.body ?? (r.method === 'GET' ? 'none' : 'json');
}

/** An error a handler throws to answer with `status` (the server turns it into a JSON error). */
export function httpError(status: number, message: string): Error {
  return Object.assign(new Error(message), { status });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Reads a request body up to `limit` bytes; larger bodies are refused with status 413. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    throw httpError(413, `request body of ${declared} bytes is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw httpError(413, `request body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Reads a JSON object body (up to `limit` bytes); anything else is a 400 naming what is wrong. */
export async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<Record<string, unknown>> {
  const raw = (await readBody(req, limit)).toString('utf8');
  let v: unknown;
  try {
    v = JSON.parse(raw || '{}');
  } catch {
    throw httpError(400, 'the request body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw httpError(400, 'the request body must be a JSON object');
  return v as Record<string, unknown>;
}
