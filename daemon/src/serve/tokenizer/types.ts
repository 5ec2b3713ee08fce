/**
 * A model's tokenizer, built from its GGUF. Three kinds: the byte-level contract of this project's trainer,
 * SentencePiece (`llama`) and byte-level BPE (`gpt2` with a named pre-tokenizer).
 */
export interface Tokenizer {
  readonly kind: 'bytes' | 'sentencepiece' | 'bpe';
  /** One line for logs and status, e.g. "BPE (pre-tokenizer llama-bpe), 128256 tokens". */
  readonly description: string;
  readonly vocabSize: number;
  /** Put before a prompt when `addBos` (the file's tokenizer.ggml.add_bos_token). */
  readonly bos: number | undefined;
  readonly addBos: boolean;
  readonly eos: number;
  /** Ids that end a generation: EOS, end-of-turn tokens. */
  readonly endIds: readonly number[];
  /**
   * Token ids of `text`, without BOS. With `special`, special-token texts in it become their ids; without it they
   * are plain text, so a user's content can never forge a control token.
   */
  encode(text: string, opts?: { special?: boolean }): number[];
  /** Text parts and special tokens, each text part encoded as if the specials around it split the input. */
  encodeParts(parts: readonly ChatPart[]): number[];
  /** The id of a token whose vocabulary text is exactly `text`. */
  idOf(text: string): number | undefined;
  /** What the token adds to generated text: its bytes (empty for control tokens). */
  pieceBytes(id: number): Buffer;
}

/** A piece of a rendered prompt: text to encode, or a special token named by its vocabulary text. */
export type ChatPart = { text: string } | { special: string };

/** GGUF token types (tokenizer.ggml.token_type), as llama.cpp and the gguf package number them. */
export const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;
