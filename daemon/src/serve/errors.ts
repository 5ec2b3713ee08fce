import type { ServerResponse } from 'node:http';

/** An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with an HTTP status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = status >= 500 ? 'server_error' : 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export function sendApiError(res: ServerResponse, err: ApiError): void {
  const body = JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.code } });
  if (!res.headersSent) {
    res.writeHead(err.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } else {
    // Mid-stream: OpenAI clients read an error event from the SSE stream.
    res.end(`data: ${body}\n\n`);
  }
}
