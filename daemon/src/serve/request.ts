import { ApiError } from './errors.js';
import { compileJsonSchema } from './json-schema.js';
import type { ChatMessage } from './tokenizer/chat.js';

/** Tokens for a chat request that names no max_tokens (the config default, and the library's when none is given). */
export const DEFAULT_MAX_TOKENS = 256;

/** Sampling and limits shared by both endpoints, validated and defaulted. */
export interface GenerationParams {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
  /** The key that set maxTokens (max_tokens or max_completion_tokens); undefined when it is the server's default. */
  maxTokensKey: string | undefined;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stop: string[];
  /** Choices to generate (seeds seed, seed+1, ...). */
  n: number;
  presencePenalty: number;
  frequencyPenalty: number;
  /** Token id -> bias; ids are checked against the model's vocabulary by the route. */
  logitBias: Map<number, number>;
  /** undefined: no log-probabilities; k: each token's and its k most likely alternatives. */
  logprobs: number | undefined;
  /** response_format json_object or json_schema: the output is constrained to one JSON object. */
  json: boolean;
  /** json_schema: the compiled schema the object must match (json-schema.ts). */
  jsonSchema: string | undefined;
}

export interface CompletionRequest extends GenerationParams {
  prompt: string;
  echo: boolean;
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

/**
 * Every request key, sorted by what the server does with it. A key OpenAI defines that this server does not
 * implement is refused with 400 naming it (clients and users file "silently ignored" as the worst bug of a
 * compatible server); a neutral value of it (logprobs: false, n: 1, an empty tools list...) is accepted.
 */
const COMMON_KEYS = [
  'model',
  'stream',
  'stream_options',
  'max_tokens',
  'temperature',
  'top_p',
  'top_k',
  'seed',
  'stop',
  'n',
  'user',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'logprobs',
  'response_format',
];
const CHAT_KEYS = [...COMMON_KEYS, 'messages', 'max_completion_tokens', 'metadata', 'top_logprobs'];
const COMPLETION_KEYS = [...COMMON_KEYS, 'prompt', 'echo'];
/** Choices one request may ask for: each takes a decoding slot. */
export const MAX_CHOICES = 8;
/** Key -> is this value neutral (asks for nothing the server would have to do)? */
const NOT_IMPLEMENTED: Partial<Record<string, (v: unknown) => boolean>> = {
  best_of: (v) => v === 1,
  suffix: (v) => v === '',
  tools: (v) => Array.isArray(v) && v.length === 0,
  tool_choice: (v) => v === 'none',
  parallel_tool_calls: (v) => typeof v === 'boolean', // meaningless without tools, which are refused
  functions: (v) => Array.isArray(v) && v.length === 0,
  function_call: (v) => v === 'none',
  modalities: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text',
  audio: () => false,
  prediction: () => false,
  reasoning_effort: () => false,
  service_tier: (v) => v === 'auto' || v === 'default',
  store: (v) => v === false,
  web_search_options: () => false,
};

function refuseUnsupported(b: Json, known: readonly string[]): void {
  for (const [key, v] of Object.entries(b)) {
    if (v === undefined || v === null || known.includes(key)) continue;
    const neutral = NOT_IMPLEMENTED[key];
    if (neutral?.(v)) continue;
    if (neutral)
      throw new ApiError(
        400,
        `'${key}' is not supported by this server (refused rather than ignored); remove it or send its neutral value`,
        'invalid_request_error',
        key,
        'unsupported_parameter',
      );
    throw new ApiError(400, `Unrecognized request argument supplied: ${key}`, 'invalid_request_error', key, 'unknown_parameter');
  }
}

function params(b: Json, defaultMaxTokens: number | undefined): GenerationParams {
  if (typeof b['model'] !== 'string' || b['model'] === '') throw new ApiError(400, "'model' is required", 'invalid_request_error', 'model');
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
  const given = b[maxKey] !== undefined && b[maxKey] !== null;
  return {
    model: b['model'],
    stream,
    includeUsage,
    maxTokens: given ? num(b, maxKey, 1, 1 << 20, 16, true) : defaultMaxTokens,
    maxTokensKey: given ? maxKey : undefined,
    temperature: num(b, 'temperature', 0, 2, 1),
    topP: num(b, 'top_p', 0, 1, 1),
    topK: num(b, 'top_k', 0, 1 << 20, 0, true),
    seed: num(b, 'seed', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, Math.floor(Math.random() * 2 ** 32), true),
    stop,
    n: num(b, 'n', 1, MAX_CHOICES, 1, true),
    presencePenalty: num(b, 'presence_penalty', -2, 2, 0),
    frequencyPenalty: num(b, 'frequency_penalty', -2, 2, 0),
    logitBias: logitBias(b['logit_bias']),
    logprobs: undefined,
    ...jsonMode(b['response_format']),
  };
}

function jsonMode(v: unknown): { json: boolean; jsonSchema: string | undefined } {
  if (v === undefined || v === null) return { json: false, jsonSchema: undefined };
  const o = typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
  if (o['type'] === 'text') return { json: false, jsonSchema: undefined };
  if (o['type'] === 'json_object') return { json: true, jsonSchema: undefined };
  if (o['type'] === 'json_schema') {
    const js = o['json_schema'];
    if (typeof js !== 'object' || js === null || (js as Json)['schema'] === undefined)
      throw new ApiError(400, "'response_format' json_schema needs json_schema.schema", 'invalid_request_error', 'response_format');
    return { json: true, jsonSchema: compileJsonSchema((js as Json)['schema']) };
  }
  throw new ApiError(
    400,
    "'response_format' must be {type: 'text' | 'json_object' | 'json_schema'}",
    'invalid_request_error',
    'response_format',
    'invalid_value',
  );
}

function logitBias(v: unknown): Map<number, number> {
  const out = new Map<number, number>();
  if (v === undefined || v === null) return out;
  if (typeof v !== 'object' || Array.isArray(v))
    throw new ApiError(400, "'logit_bias' must be an object of token id -> bias", 'invalid_request_error', 'logit_bias', 'invalid_type');
  for (const [k, bias] of Object.entries(v as Json)) {
    const id = Number(k);
    if (!/^\d+$/.test(k) || !Number.isSafeInteger(id))
      throw new ApiError(
        400,
        `'logit_bias' key ${JSON.stringify(k)} is not a token id`,
        'invalid_request_error',
        'logit_bias',
        'invalid_value',
      );
    if (typeof bias !== 'number' || !(bias >= -100 && bias <= 100))
      throw new ApiError(
        400,
        `'logit_bias' of token ${k} must be a number in [-100, 100]`,
        'invalid_request_error',
        'logit_bias',
        'invalid_value',
      );
    out.set(id, bias);
  }
  return out;
}

export function parseCompletion(b: Json): CompletionRequest {
  refuseUnsupported(b, COMPLETION_KEYS);
  let prompt = b['prompt'];
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (typeof prompt !== 'string')
    throw new ApiError(400, "'prompt' must be a string (one prompt per request)", 'invalid_request_error', 'prompt');
  const echo = b['echo'] === true;
  const logprobs = b['logprobs'] === undefined || b['logprobs'] === null ? undefined : num(b, 'logprobs', 0, 5, 0, true);
  // Echo with log-probabilities would need the prompt's own log-probabilities, which this server does not compute.
  if (echo && logprobs !== undefined)
    throw new ApiError(400, "'echo' together with 'logprobs' is not supported", 'invalid_request_error', 'echo', 'unsupported_parameter');
  return { ...params(b, 16), prompt, echo, logprobs };
}

export function parseChat(b: Json): ChatRequest {
  refuseUnsupported(b, CHAT_KEYS);
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
  const lp = b['logprobs'];
  if (lp !== undefined && lp !== null && typeof lp !== 'boolean')
    throw new ApiError(400, "'logprobs' must be a boolean", 'invalid_request_error', 'logprobs', 'invalid_type');
  const top = b['top_logprobs'] === undefined || b['top_logprobs'] === null ? undefined : num(b, 'top_logprobs', 0, 20, 0, true);
  if (top !== undefined && lp !== true)
    throw new ApiError(400, "'top_logprobs' needs 'logprobs': true", 'invalid_request_error', 'top_logprobs', 'invalid_value');
  return { ...params(b, undefined), messages, logprobs: lp === true ? (top ?? 0) : undefined };
}
