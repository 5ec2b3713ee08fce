import { MagnetError } from '../../util/errors.js';
import type { GgufMetaValue } from '../gguf-meta.js';
import { BpeTokenizer, PRE_TOKENIZERS } from './bpe.js';
import { BytesTokenizer } from './bytes.js';
import { SentencePieceTokenizer } from './spm.js';
import { type Tokenizer, TokenType } from './types.js';
import type { VocabSpec } from './vocab.js';

const MODELS = 'llama (SentencePiece), gpt2 (byte-level BPE)';

/**
 * The tokenizer a GGUF describes (tokenizer.ggml.*), checked against the model's embedding rows. Refuses, naming
 * the key, a tokenizer model or pre-tokenizer this server does not implement: a model served with the wrong
 * tokenizer answers garbage without any error, so it must never load.
 */
export function tokenizerFromGguf(meta: Map<string, GgufMetaValue>, embeddingRows: number, where: string): Tokenizer {
  const bad = (msg: string): never => {
    throw new MagnetError('ERR_MODEL_LOAD', `${where}: ${msg}`);
  };
  const model = meta.get('tokenizer.ggml.model');
  if (model === undefined) bad('the file names no tokenizer (key tokenizer.ggml.model)');
  if (model !== 'llama' && model !== 'gpt2')
    bad(`tokenizer model ${JSON.stringify(model)} (key tokenizer.ggml.model) is not supported; supported: ${MODELS}`);
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) bad('key tokenizer.ggml.tokens is missing or not strings');
  const toks = tokens as string[];
  if (toks.length !== embeddingRows)
    bad(`the vocabulary has ${toks.length} tokens (tokenizer.ggml.tokens) but token_embd.weight has ${embeddingRows} rows`);
  const numbers = (key: string, def: number): number[] => {
    const v = meta.get(key);
    if (v === undefined) return toks.map(() => def);
    if (!Array.isArray(v) || v.length !== toks.length || !v.every((x) => typeof x === 'number'))
      return bad(`key ${key} must hold one number per token (${toks.length})`);
    return v as number[];
  };
  const id = (key: string): number | undefined => {
    const v = meta.get(key);
    if (v === undefined) return undefined;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n >= toks.length)
      return bad(`key ${key} is ${String(v)}, not a token id below ${toks.length}`);
    return n;
  };
  const flag = (key: string, def: boolean): boolean => {
    const v = meta.get(key);
    return typeof v === 'boolean' ? v : def;
  };
  const types = numbers('tokenizer.ggml.token_type', TokenType.normal);
  const eos = id('tokenizer.ggml.eos_token_id');
  if (eos === undefined) bad('key tokenizer.ggml.eos_token_id is missing');
  const spec: VocabSpec = {
    tokens: toks,
    types,
    scores: numbers('tokenizer.ggml.scores', 0),
    bos: id('tokenizer.ggml.bos_token_id'),
    eos: eos!,
    addBos: flag('tokenizer.ggml.add_bos_token', model === 'llama'),
    unk: id('tokenizer.ggml.unknown_token_id'),
    eot: id('tokenizer.ggml.eot_token_id'),
  };
  if (model === 'llama') {
    if (isByteVocabulary(toks, types)) return new BytesTokenizer(spec);
    return new SentencePieceTokenizer(spec, flag('tokenizer.ggml.add_space_prefix', true));
  }
  const pre = meta.get('tokenizer.ggml.pre') ?? 'default';
  if (typeof pre !== 'string' || !(pre in PRE_TOKENIZERS))
    bad(
      `BPE pre-tokenizer ${JSON.stringify(pre)} (key tokenizer.ggml.pre) is not supported; supported: ${Object.keys(PRE_TOKENIZERS).join(', ')}`,
    );
  const merges = meta.get('tokenizer.ggml.merges');
  if (!Array.isArray(merges) || !merges.every((m) => typeof m === 'string')) bad('key tokenizer.ggml.merges is missing or not strings');
  return new BpeTokenizer(spec, merges as string[], pre as string);
}

/** This project's byte-level contract: ids 0..255 are `<0x00>`..`<0xFF>` and no token is a normal piece. */
function isByteVocabulary(tokens: string[], types: number[]): boolean {
  if (tokens.length < 256) return false;
  for (let b = 0; b < 256; b++) if (tokens[b] !== `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) return false;
  return types.every((t) => t !== TokenType.normal && t !== TokenType.userDefined);
}
