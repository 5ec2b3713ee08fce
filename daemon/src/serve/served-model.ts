import { readGgufMetadata } from './gguf-meta.js';
import { type NativeLoadOptions, type NativeModel, type NativeModelInfo, loadNativeModel } from './native.js';
import { type ChatTemplate, chatTemplateFor } from './tokenizer/chat.js';
import { tokenizerFromGguf } from './tokenizer/from-gguf.js';
import type { Tokenizer } from './tokenizer/types.js';

/** A model ready to answer: its weights in native memory, and the tokenizer and chat format its file describes. */
export interface ServedModel {
  native: NativeModel;
  info: NativeModelInfo;
  tokenizer: Tokenizer;
  chat: ChatTemplate;
}

/**
 * Loads a GGUF for serving. The tokenizer is built and checked here, at load, so a file whose vocabulary this
 * server cannot read is refused (ERR_MODEL_LOAD, naming the key) before it answers anything; the native engine
 * gets each token's text and the ids that end a generation.
 */
export async function loadServedModel(path: string, opts: NativeLoadOptions): Promise<ServedModel> {
  const native = await loadNativeModel(path, opts);
  try {
    const info = native.info();
    const meta = await readGgufMetadata(path);
    const tokenizer = tokenizerFromGguf(meta, info.vocabSize, path);
    const template = meta.get('tokenizer.chat_template');
    const chat = chatTemplateFor(tokenizer, typeof template === 'string' ? template : undefined);
    const texts: Buffer[] = [];
    const offsets = new Uint32Array(tokenizer.vocabSize + 1);
    let at = 0;
    for (let id = 0; id < tokenizer.vocabSize; id++) {
      const b = tokenizer.pieceBytes(id);
      texts.push(b);
      at += b.length;
      offsets[id + 1] = at;
    }
    native.setVocab(Buffer.concat(texts), offsets, Int32Array.from(tokenizer.endIds));
    return { native, info, tokenizer, chat };
  } catch (err) {
    native.close();
    throw err;
  }
}
