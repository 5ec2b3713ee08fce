import type { IncomingMessage } from 'node:http';

/** Why a listener refuses a request before any handler runs. */
export interface GateRefusal {
  status: number;
  message: string;
  /** OpenAI-style error type (authentication_error, rate_limit_error, ...). */
  type: string;
  headers?: Record<string, string>;
}

/** What a listener checks on every request: who may call (admin token, API keys) and how often. */
export interface RequestGate {
  /**
   * Checks a request; `routed` says whether a route answers its method and path. Returns a refusal, or a release
   * callback the server calls once the answer is finished (for per-client concurrency).
   */
  admit(req: IncomingMessage, routed: { open: boolean } | undefined): { refuse: GateRefusal } | { release?: () => void };
}

/** The client address of a request (the socket peer; no proxy headers are trusted). */
export function remoteAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}
