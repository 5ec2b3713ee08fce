import { ApiError } from './errors.js';
import type { ChatMessage } from './tokenizer.js';

/** Tokens for a chat request that names no max_tokens (the config default, and the library's when none is given). */
export const DEFAULT_MAX_TOKENS = 256;

/** Sampling and limits shared by both endpoints, validated and defaulted. */
export interface GenerationParams {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stop: string[];
}

export interface CompletionRequest extends GenerationParams {
  prompt: string;
}

export interface ChatRequest extends GenerationParams {
  messages: ChatMessage[];
}

type Json = Record<string, unknown>;

export function parseJsonBody(raw: Buffer): Json {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ApiError(400, `request body is not valid JSON: ${(err as Error).message}`, 'invalid_request_error', null, 'invalid_json');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiError(400, 'request body must be a JSON object');
  return v as Json;
}

function num(b: Json, key: string, lo: number, hi: number, def: number, integer = false): number {
  const v = b[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
    throw new ApiError(400, `'${key}' must be ${integer ? 'an integer' : 'a number'}`, 'invalid_request_error', key, 'invalid_type');
  if (v < lo || v > hi)
    throw new ApiError(400, `'${key}' is ${v}; it must be between ${lo} and ${hi}`, 'invalid_request_error', key, 'invalid_value');
  return v;
}

function params(b: Json, defaultMaxTokens: number | undefined): GenerationParams {
  if (typeof b['model'] !== 'string' || b['model'] === '') throw new ApiError(400, "'model' is required", 'invalid_request_error', 'model');
  const n = num(b, 'n', 1, 1, 1, true);
  void n;
  let stop: string[] = [];
  const s = b['stop'];
  if (typeof s === 'string') stop = [s];
  else if (Array.isArray(s) && s.every((x) => typeof x === 'string')) stop = s as string[];
  else if (s !== undefined && s !== null)
    throw new ApiError(400, "'stop' must be a string or an array of strings", 'invalid_request_error', 'stop');
  if (stop.length > 4) throw new ApiError(400, "'stop' takes at most 4 sequences", 'invalid_request_error', 'stop');
  stop = stop.filter((x) => x.length > 0);
  const stream = b['stream'] === true;
  const so = b['stream_options'];
  const includeUsage = stream && typeof so === 'object' && so !== null && (so as Json)['include_usage'] === true;
  const maxKey = b['max_completion_tokens'] !== undefined && b['max_completion_tokens'] !== null ? 'max_completion_tokens' : 'max_tokens';
  const mt = b[maxKey] === undefined || b[maxKey] === null ? defaultMaxTokens : num(b, maxKey, 1, 1 << 20, 16, true);
  return {
    model: b['model'],
    stream,
    includeUsage,
    maxTokens: mt,
    temperature: num(b, 'temperature', 0, 2, 1),
    topP: num(b, 'top_p', 0, 1, 1),
    topK: num(b, 'top_k', 0, 1 << 20, 0, true),
    seed: num(b, 'seed', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, Math.floor(Math.random() * 2 ** 32), true),
    stop,
  };
}

export function parseCompletion(b: Json): CompletionRequest {
  let prompt = b['prompt'];
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (typeof prompt !== 'string')
    throw new ApiError(400, "'prompt' must be a string (one prompt per request)", 'invalid_request_error', 'prompt');
  return { ...params(b, 16), prompt };
}

export function parseChat(b: Json): ChatRequest {
  const m = b['messages'];
  if (!Array.isArray(m) || m.length === 0)
    throw new ApiError(400, "'messages' must be a non-empty array", 'invalid_request_error', 'messages');
  const messages: ChatMessage[] = m.map((x: unknown, i) => {
    const o = x as Json;
    const role = o?.['role'];
    let content = o?.['content'];
    if (Array.isArray(content)) {
      // [{type: "text", text}] parts: text only
      content = content.map((p: Json) => (p?.['type'] === 'text' && typeof p['text'] === 'string' ? p['text'] : '')).join('');
    }
    if ((role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'developer') || typeof content !== 'string')
      throw new ApiError(
        400,
        `messages[${i}] needs a role (system, user, assistant) and string content`,
        'invalid_request_error',
        `messages[${i}]`,
      );
    return { role: role === 'developer' ? 'system' : role, content };
  });
  return { ...params(b, undefined), messages };
}
