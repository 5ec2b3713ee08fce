import type { NativeModel, NativeModelInfo } from './native.js';
import type { ChatTemplate } from './tokenizer/chat.js';
import type { Tokenizer } from './tokenizer/types.js';

// What the HTTP routes need from the service, apart from it: service.ts builds its routes from routes.ts, so
// routes.ts reads these types from here and never imports service.ts (no file cycle).

/** A loaded model plus its in-flight count: a swapped-out model closes when its last request finishes. */
export interface LoadedModel {
  id: string;
  native: NativeModel;
  info: NativeModelInfo;
  tokenizer: Tokenizer;
  chat: ChatTemplate;
  loadedAt: number;
  inflight: number;
  retired: boolean;
}

export interface GenerateArgs {
  tokens: Int32Array;
  maxTokens: number;
  /** The request key that asked for maxTokens: then a prompt + maxTokens past the context is refused, not cut. */
  maxTokensKey?: string | undefined;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stop: string[];
  presencePenalty?: number;
  frequencyPenalty?: number;
  logitBias?: { ids: Int32Array; values: Float32Array };
  /** -1 or absent: none; k: onToken gets each token's log-probability and its k most likely alternatives. */
  logprobs?: number;
  /** JSON mode: only tokens that keep the output a prefix of one JSON object. */
  json?: boolean;
  /** The compiled schema JSON mode must also follow (json-schema.ts). */
  jsonSchema?: string | undefined;
  signal?: AbortSignal;
  onText(bytes: Buffer): void;
  onToken?(t: TokenLogprob): void;
}

/** One generated token's log-probability and the most likely alternatives at its step (ids, log-probabilities). */
export interface TokenLogprob {
  id: number;
  logprob: number;
  top: Array<[number, number]>;
}

export interface GenerateResult {
  finishReason: 'stop' | 'length' | 'cancelled';
  promptTokens: number;
  completionTokens: number;
  model: LoadedModel;
}

/** The serving side the routes call (ServeService). */
export interface ModelServer {
  /** The current model, if one is loaded. */
  model(): LoadedModel | undefined;
  /** Resolves a request's model name: the current id (or its file name); anything else is 404. */
  resolveModel(name: string): LoadedModel;
  /** Runs one generation through the queue; throws ApiError 429 when the queue is full. */
  generate(args: GenerateArgs, m: LoadedModel): Promise<GenerateResult>;
  /** Embeddings of token sequences (mean pooling, unit length), one after another on the model's compute lock. */
  embed(inputs: Int32Array[], m: LoadedModel): Promise<Float32Array[]>;
}
