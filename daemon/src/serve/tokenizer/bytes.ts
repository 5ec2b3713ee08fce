import { VocabTokenizer } from './vocab.js';

/**
 * The byte-level contract of this project's trainer: ids 0..255 are the bytes, then BOS and EOS, then padding.
 * Its GGUFs name the `llama` model with `<0xNN>` byte tokens only; SentencePiece rules would turn each space into
 * the three bytes of "▁", so such a vocabulary (no normal token at all) is read as plain bytes instead.
 */
export class BytesTokenizer extends VocabTokenizer {
  readonly kind = 'bytes' as const;
  get description(): string {
    return `bytes, ${this.vocabSize} tokens`;
  }

  protected encodeText(text: string): number[] {
    return [...Buffer.from(text, 'utf8')];
  }

  protected bytesOf(id: number): Buffer {
    return id < 256 ? Buffer.of(id) : Buffer.alloc(0);
  }
}
