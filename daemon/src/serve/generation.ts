import type { NativeModel, NativeModelInfo } from './native.js';

// What the HTTP routes need from the service, apart from it: service.ts builds its routes from routes.ts, so
// routes.ts reads these types from here and never imports service.ts (no file cycle).

/** A loaded model plus its in-flight count: a swapped-out model closes when its last request finishes. */
export interface LoadedModel {
  id: string;
  native: NativeModel;
  info: NativeModelInfo;
  loadedAt: number;
  inflight: number;
  retired: boolean;
}

export interface GenerateArgs {
  tokens: Int32Array;
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  stop: string[];
  signal?: AbortSignal;
  onText(bytes: Buffer): void;
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
}
