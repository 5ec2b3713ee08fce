import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Route, readBody, sendJson } from '../api/routes.js';
import { ApiError, sendApiError } from './errors.js';
import type { LoadedModel, ModelServer } from './generation.js';
import { type GenerationParams, parseChat, parseCompletion, parseJsonBody } from './request.js';
import { Utf8Stream, chatPrompt, encodePrompt } from './tokenizer.js';

const BODY_LIMIT = 4 << 20;

/** OpenAI-compatible routes: /v1/models, /v1/completions, /v1/chat/completions (streamed with SSE or not). */
export function serveRoutes(svc: ModelServer, defaultMaxTokens: number): Route[] {
  const wrap = (fn: (req: IncomingMessage, res: ServerResponse) => Promise<void>) => async (req: IncomingMessage, res: ServerResponse) => {
    try {
      await fn(req, res);
    } catch (err) {
      if (err instanceof ApiError) return sendApiError(res, err);
      const status = (err as { status?: number }).status;
      if (status === 413) return sendApiError(res, new ApiError(413, (err as Error).message));
      throw err; // the HTTP server answers 500 and logs it
    }
  };
  return [
    { method: 'GET', path: '/v1/models', handle: wrap(async (_req, res) => sendJson(res, 200, { object: 'list', data: modelList(svc) })) },
    {
      method: 'POST',
      path: '/v1/completions',
      handle: wrap(async (req, res) => {
        const body = parseCompletion(parseJsonBody(await readBody(req, BODY_LIMIT)));
        const m = svc.resolveModel(body.model);
        await respond(svc, res, m, body, encodePrompt(body.prompt, m.info.bosTokenId), 'text', defaultMaxTokens);
      }),
    },
    {
      method: 'POST',
      path: '/v1/chat/completions',
      handle: wrap(async (req, res) => {
        const body = parseChat(parseJsonBody(await readBody(req, BODY_LIMIT)));
        const m = svc.resolveModel(body.model);
        await respond(svc, res, m, body, encodePrompt(chatPrompt(body.messages), m.info.bosTokenId), 'chat', defaultMaxTokens);
      }),
    },
  ];
}

/** Response headers of a streamed (server-sent events) completion. */
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

function modelList(svc: ModelServer): unknown[] {
  const m = svc.model();
  if (!m) return [];
  return [
    {
      id: m.id,
      object: 'model',
      created: Math.floor(m.loadedAt / 1000),
      owned_by: 'magnet-node',
      round: m.info.round,
      context_length: m.info.contextLength,
    },
  ];
}

async function respond(
  svc: ModelServer,
  res: ServerResponse,
  m: LoadedModel,
  p: GenerationParams,
  tokens: Int32Array,
  kind: 'text' | 'chat',
  defaultMaxTokens: number,
): Promise<void> {
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  const created = Math.floor(Date.now() / 1000);
  const object = kind === 'chat' ? (p.stream ? 'chat.completion.chunk' : 'chat.completion') : 'text_completion';
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(); // client went away: stop decoding for it
  });
  const utf8 = new Utf8Stream();
  let text = '';
  let first = true;
  const chunk = (piece: string, finish: string | null): unknown =>
    kind === 'chat'
      ? {
          id,
          object,
          created,
          model: m.id,
          choices: [
            { index: 0, delta: first ? { role: 'assistant', content: piece } : { content: piece }, finish_reason: finish, logprobs: null },
          ],
        }
      : { id, object, created, model: m.id, choices: [{ index: 0, text: piece, finish_reason: finish, logprobs: null }] };
  const send = (obj: unknown): void => {
    res.write(`data: ${JSON.stringify(obj)}\n\n`);
  };
  const onText = (bytes: Buffer): void => {
    const piece = utf8.push(bytes);
    if (!piece) return;
    if (!p.stream) {
      text += piece;
      return;
    }
    if (!res.headersSent) res.writeHead(200, SSE_HEADERS);
    send(chunk(piece, null));
    first = false;
  };
  const r = await svc.generate(
    {
      tokens,
      maxTokens: p.maxTokens ?? defaultMaxTokens,
      temperature: p.temperature,
      topP: p.topP,
      topK: p.topK,
      seed: p.seed,
      stop: p.stop,
      signal: abort.signal,
      onText,
    },
    m,
  );
  const tail = utf8.end();
  const finish = r.finishReason === 'length' ? 'length' : 'stop';
  const usage = { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens };
  if (r.finishReason === 'cancelled' && abort.signal.aborted) return;
  if (p.stream) {
    if (!res.headersSent) res.writeHead(200, SSE_HEADERS);
    send(chunk(tail, finish));
    if (p.includeUsage) send({ id, object, created, model: m.id, choices: [], usage });
    res.end('data: [DONE]\n\n');
    return;
  }
  text += tail;
  const choice =
    kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: text, refusal: null }, finish_reason: finish, logprobs: null }
      : { index: 0, text, finish_reason: finish, logprobs: null };
  sendJson(res, 200, { id, object, created, model: m.id, choices: [choice], usage, system_fingerprint: `magnet-${m.info.kernel}` });
}
