import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Route, readBody, sendJson } from '../api/routes.js';
import { ApiError, sendApiError } from './errors.js';
import type { LoadedModel, ModelServer, TokenLogprob } from './generation.js';
import { type GenerationParams, parseChat, parseCompletion, parseJsonBody } from './request.js';
import { encodePrompt } from './tokenizer/chat.js';
import { Utf8Stream } from './utf8-stream.js';

const BODY_LIMIT = 4 << 20;

/**
 * OpenAI-compatible routes: /v1/models, /v1/completions, /v1/chat/completions (streamed with SSE or not),
 * /v1/embeddings, and the helpers /v1/tokenize and /v1/detokenize (vLLM's shapes).
 */
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
        const prompt = Int32Array.from(encodePrompt(m.tokenizer, body.prompt));
        await respond(svc, res, m, body, prompt, 'text', defaultMaxTokens, body.echo ? body.prompt : '');
      }),
    },
    {
      method: 'POST',
      path: '/v1/chat/completions',
      handle: wrap(async (req, res) => {
        const body = parseChat(parseJsonBody(await readBody(req, BODY_LIMIT)));
        const m = svc.resolveModel(body.model);
        await respond(svc, res, m, body, Int32Array.from(m.chat.render(body.messages)), 'chat', defaultMaxTokens);
      }),
    },
    {
      method: 'POST',
      path: '/v1/embeddings',
      handle: wrap(async (req, res) => {
        const body = parseJsonBody(await readBody(req, BODY_LIMIT));
        const m = svc.resolveModel(modelName(body));
        const { inputs, base64 } = parseEmbeddingRequest(body, m);
        const vectors = await svc.embed(inputs, m);
        const data = vectors.map((v, index) => ({
          object: 'embedding',
          index,
          embedding: base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
        }));
        const tokens = inputs.reduce((n, t) => n + t.length, 0);
        // `pooling` says how a vector is made: the mean of the final-normed hidden states, scaled to unit length.
        sendJson(res, 200, { object: 'list', data, model: m.id, usage: { prompt_tokens: tokens, total_tokens: tokens }, pooling: 'mean' });
      }),
    },
    {
      method: 'POST',
      path: '/v1/tokenize',
      handle: wrap(async (req, res) => {
        const body = parseJsonBody(await readBody(req, BODY_LIMIT));
        const m = svc.resolveModel(modelName(body));
        let ids: number[];
        if (body['messages'] !== undefined) ids = m.chat.render(parseChat({ ...body, model: m.id }).messages);
        else if (typeof body['prompt'] === 'string')
          ids = body['add_special'] === false ? m.tokenizer.encode(body['prompt']) : encodePrompt(m.tokenizer, body['prompt']);
        else throw new ApiError(400, "give 'prompt' (a string) or 'messages'", 'invalid_request_error', 'prompt');
        sendJson(res, 200, { tokens: ids, count: ids.length, max_model_len: m.info.contextLength });
      }),
    },
    {
      method: 'POST',
      path: '/v1/detokenize',
      handle: wrap(async (req, res) => {
        const body = parseJsonBody(await readBody(req, BODY_LIMIT));
        const m = svc.resolveModel(modelName(body));
        const ids = body['tokens'];
        if (!Array.isArray(ids) || !ids.every((t) => Number.isInteger(t) && t >= 0 && t < m.info.vocabSize))
          throw new ApiError(400, `'tokens' must be an array of token ids below ${m.info.vocabSize}`, 'invalid_request_error', 'tokens');
        const text = Buffer.concat((ids as number[]).map((t) => m.tokenizer.pieceBytes(t))).toString('utf8');
        sendJson(res, 200, { prompt: text });
      }),
    },
  ];
}

/** input: a string, strings, token ids, or lists of token ids (OpenAI's four forms); at most 256 inputs. */
function parseEmbeddingRequest(body: Record<string, unknown>, m: LoadedModel): { inputs: Int32Array[]; base64: boolean } {
  for (const key of Object.keys(body))
    if (!['model', 'input', 'encoding_format', 'user'].includes(key) && body[key] !== undefined && body[key] !== null)
      throw new ApiError(
        400,
        key === 'dimensions'
          ? "'dimensions' is not supported: the vectors have the model's width"
          : `Unrecognized request argument supplied: ${key}`,
        'invalid_request_error',
        key,
        key === 'dimensions' ? 'unsupported_parameter' : 'unknown_parameter',
      );
  const fmt = body['encoding_format'] ?? 'float';
  if (fmt !== 'float' && fmt !== 'base64')
    throw new ApiError(400, "'encoding_format' must be 'float' or 'base64'", 'invalid_request_error', 'encoding_format');
  const input = body['input'];
  const ids = (x: unknown): x is number[] =>
    Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t) && t >= 0 && t < m.info.vocabSize);
  let list: Array<string | number[]>;
  if (typeof input === 'string') list = [input];
  else if (ids(input)) list = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string' || ids(x)))
    list = input as Array<string | number[]>;
  else
    throw new ApiError(
      400,
      `'input' must be a string, an array of strings, or token ids below ${m.info.vocabSize}`,
      'invalid_request_error',
      'input',
    );
  if (list.length > 256) throw new ApiError(400, "'input' takes at most 256 items", 'invalid_request_error', 'input');
  if (list.some((x) => x === '')) throw new ApiError(400, "'input' must not contain an empty string", 'invalid_request_error', 'input');
  return { inputs: list.map((x) => Int32Array.from(typeof x === 'string' ? encodePrompt(m.tokenizer, x) : x)), base64: fmt === 'base64' };
}

function modelName(body: Record<string, unknown>): string {
  if (typeof body['model'] !== 'string' || body['model'] === '')
    throw new ApiError(400, "'model' is required", 'invalid_request_error', 'model');
  return body['model'];
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

/** One choice of a response while it is generated: its decoder, its text and the log-probabilities not yet sent. */
interface Choice {
  index: number;
  utf8: Utf8Stream;
  text: string;
  first: boolean;
  /** Log-probabilities of tokens whose text has not been sent yet (stream) or of all tokens (not streamed). */
  tokens: TokenLogprob[];
  offset: number;
}

async function respond(
  svc: ModelServer,
  res: ServerResponse,
  m: LoadedModel,
  p: GenerationParams,
  tokens: Int32Array,
  kind: 'text' | 'chat',
  defaultMaxTokens: number,
  echo = '',
): Promise<void> {
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  const created = Math.floor(Date.now() / 1000);
  const object = kind === 'chat' ? (p.stream ? 'chat.completion.chunk' : 'chat.completion') : 'text_completion';
  const logitBias = checkedLogitBias(p.logitBias, m.info.vocabSize);
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(); // client went away: stop decoding for it
  });
  // Which checkpoint answered: merged models replace each other under one model id.
  const fingerprint = checkpointFingerprint(m);
  res.setHeader('x-magnet-checkpoint', `${m.info.round || 'none'}/${m.info.checkpointSha256 || 'none'}`);
  const logprobsOf = (c: Choice): unknown => (p.logprobs === undefined ? null : formatLogprobs(m, kind, c));
  const chunk = (c: Choice, piece: string, finish: string | null): unknown => {
    const choice =
      kind === 'chat'
        ? {
            index: c.index,
            delta: c.first ? { role: 'assistant', content: piece } : { content: piece },
            finish_reason: finish,
            logprobs: logprobsOf(c),
          }
        : { index: c.index, text: piece, finish_reason: finish, logprobs: logprobsOf(c) };
    c.first = false;
    c.offset += piece.length;
    c.tokens = [];
    return { id, object, created, model: m.id, system_fingerprint: fingerprint, choices: [choice] };
  };
  const send = (obj: unknown): void => {
    if (!res.headersSent) res.writeHead(200, SSE_HEADERS);
    res.write(`data: ${JSON.stringify(obj)}\n\n`);
  };
  const choices: Choice[] = Array.from({ length: p.n }, (_, index) => ({
    index,
    utf8: new Utf8Stream(),
    text: echo,
    first: true,
    tokens: [],
    offset: p.stream ? 0 : echo.length,
  }));
  if (p.stream && echo) for (const c of choices) send(chunk(c, echo, null));
  const results = await Promise.all(
    choices.map((c) =>
      svc
        .generate(
          {
            tokens,
            maxTokens: p.maxTokens ?? defaultMaxTokens,
            maxTokensKey: p.maxTokensKey,
            temperature: p.temperature,
            topP: p.topP,
            topK: p.topK,
            seed: p.seed + c.index,
            stop: p.stop,
            json: p.json,
            jsonSchema: p.jsonSchema,
            presencePenalty: p.presencePenalty,
            frequencyPenalty: p.frequencyPenalty,
            ...(logitBias ? { logitBias } : {}),
            ...(p.logprobs !== undefined ? { logprobs: p.logprobs, onToken: (t: TokenLogprob) => c.tokens.push(t) } : {}),
            signal: abort.signal,
            onText: (bytes) => {
              const piece = c.utf8.push(bytes);
              if (!piece) return;
              if (p.stream) send(chunk(c, piece, null));
              else c.text += piece;
            },
          },
          m,
        )
        .catch((err: unknown) => {
          abort.abort(); // one choice failed: the others stop, the request fails as a whole
          throw err;
        }),
    ),
  );
  if (abort.signal.aborted && results.some((r) => r.finishReason === 'cancelled')) return;
  const finishOf = (i: number): string => (results[i]!.finishReason === 'length' ? 'length' : 'stop');
  const completionTokens = results.reduce((sum, r) => sum + r.completionTokens, 0);
  const promptTokens = results[0]!.promptTokens;
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  if (p.stream) {
    for (const c of choices) send(chunk(c, c.utf8.end(), finishOf(c.index)));
    if (p.includeUsage) send({ id, object, created, model: m.id, system_fingerprint: fingerprint, choices: [], usage });
    res.end('data: [DONE]\n\n');
    return;
  }
  const out = choices.map((c) => {
    c.text += c.utf8.end();
    return kind === 'chat'
      ? {
          index: c.index,
          message: { role: 'assistant', content: c.text, refusal: null },
          finish_reason: finishOf(c.index),
          logprobs: logprobsOf(c),
        }
      : { index: c.index, text: c.text, finish_reason: finishOf(c.index), logprobs: logprobsOf(c) };
  });
  sendJson(res, 200, { id, object, created, model: m.id, choices: out, usage, system_fingerprint: fingerprint });
}

/** logit_bias as the engine takes it; a token id outside the vocabulary is a 400 naming it. */
function checkedLogitBias(bias: Map<number, number>, vocab: number): { ids: Int32Array; values: Float32Array } | undefined {
  if (bias.size === 0) return undefined;
  for (const id of bias.keys())
    if (id >= vocab)
      throw new ApiError(
        400,
        `'logit_bias' names token ${id}, outside this model's vocabulary of ${vocab}`,
        'invalid_request_error',
        'logit_bias',
        'invalid_value',
      );
  return { ids: Int32Array.from(bias.keys()), values: Float32Array.from(bias.values()) };
}

/**
 * Log-probabilities in OpenAI's two shapes. A token's text is its bytes read as UTF-8 (a token that ends inside a
 * character shows U+FFFD; `bytes` has the exact bytes).
 */
function formatLogprobs(m: LoadedModel, kind: 'text' | 'chat', c: Choice): unknown {
  const tokenOf = (tid: number): { token: string; bytes: number[] } => {
    const b = m.tokenizer.pieceBytes(tid);
    return { token: b.toString('utf8'), bytes: [...b] };
  };
  if (kind === 'chat')
    return {
      content: c.tokens.map((t) => ({
        ...tokenOf(t.id),
        logprob: t.logprob,
        top_logprobs: t.top.map(([tid, lp]) => ({ ...tokenOf(tid), logprob: lp })),
      })),
      refusal: null,
    };
  let offset = c.offset;
  const textOffset: number[] = [];
  for (const t of c.tokens) {
    textOffset.push(offset);
    offset += tokenOf(t.id).token.length;
  }
  return {
    tokens: c.tokens.map((t) => tokenOf(t.id).token),
    token_logprobs: c.tokens.map((t) => t.logprob),
    top_logprobs: c.tokens.map((t) => Object.fromEntries(t.top.map(([tid, lp]) => [tokenOf(tid).token, lp]))),
    text_offset: textOffset,
  };
}

/** `magnet-r<round>-<first 12 hex of the checkpoint's sha256>`; a file without them names the kernel only. */
function checkpointFingerprint(m: LoadedModel): string {
  const sha = m.info.checkpointSha256;
  return sha ? `magnet-r${m.info.round || '0'}-${sha.slice(0, 12)}` : `magnet-${m.info.kernel}`;
}
