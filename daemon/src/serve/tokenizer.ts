/**
 * The contract's byte-level tokenizer: ids 0..255 are bytes, 256 = BOS, 257 = EOS, higher ids are padding.
 * A prompt is [BOS] + its UTF-8 bytes.
 */
export const BOS = 256;

export function encodePrompt(text: string, bos = BOS): Int32Array {
  const bytes = Buffer.from(text, 'utf8');
  const out = new Int32Array(bytes.length + 1);
  out[0] = bos;
  out.set(bytes, 1);
  return out;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * Our chat template (the trainer's byte-level models have no special chat tokens): one line per message,
 * "role: content", then "assistant:" for the reply.
 */
export function chatPrompt(messages: ChatMessage[]): string {
  return `${messages.map((m) => `${m.role}: ${m.content}`).join('\n')}\nassistant:`;
}

/** Decodes streamed bytes to text without splitting a multi-byte character across chunks. */
export class Utf8Stream {
  private readonly dec = new TextDecoder('utf-8');
  push(bytes: Uint8Array): string {
    return this.dec.decode(bytes, { stream: true });
  }
  end(): string {
    return this.dec.decode();
  }
}
