import { MagnetError } from '../../util/errors.js';
import { type ChatPart, type Tokenizer, TokenType } from './types.js';

/** Where the vocabulary came from and what the file says about it (read by from-gguf.ts). */
export interface VocabSpec {
  tokens: string[];
  types: number[];
  scores: number[];
  bos: number | undefined;
  eos: number;
  addBos: boolean;
  unk: number | undefined;
  /** tokenizer.ggml.eot_token_id, when the file names one. */
  eot: number | undefined;
}

/** Control tokens that end a turn in the chat formats we know, besides EOS and the file's EOT. */
const END_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<|endoftext|>', '<|end_of_text|>', '<end_of_turn>', '<|eom_id|>'];

/**
 * What every vocabulary-based tokenizer shares: the id index, special-token splitting, parts, end ids. The kinds
 * differ only in how they encode a run of plain text (`encodeText`) and what bytes a token stands for.
 */
export abstract class VocabTokenizer implements Tokenizer {
  abstract readonly kind: Tokenizer['kind'];
  abstract readonly description: string;
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly addBos: boolean;
  readonly eos: number;
  readonly endIds: readonly number[];
  protected readonly index = new Map<string, number>();
  /** Special tokens by first character, longest first: the candidates at each position when splitting. */
  private readonly specials = new Map<string, string[]>();
  private readonly pieces: Buffer[] = [];

  constructor(protected readonly v: VocabSpec) {
    this.vocabSize = v.tokens.length;
    this.bos = v.bos;
    this.addBos = v.addBos && v.bos !== undefined;
    this.eos = v.eos;
    v.tokens.forEach((t, id) => {
      if (!this.index.has(t)) this.index.set(t, id); // a duplicate text keeps its first id, as the references do
      const ty = v.types[id];
      if ((ty === TokenType.control || ty === TokenType.userDefined) && t.length > 0) {
        const list = this.specials.get(t[0]!) ?? [];
        list.push(t);
        this.specials.set(t[0]!, list);
      }
    });
    for (const list of this.specials.values()) list.sort((a, b) => b.length - a.length);
    const ends = new Set<number>([v.eos]);
    if (v.eot !== undefined) ends.add(v.eot);
    for (const t of END_TEXTS) {
      const id = this.index.get(t);
      if (id !== undefined && v.types[id] === TokenType.control) ends.add(id);
    }
    this.endIds = [...ends].sort((a, b) => a - b);
  }

  /** Encodes one run of plain text; `afterSpecial` is true at the start of the input and after a special token. */
  protected abstract encodeText(text: string, afterSpecial: boolean): number[];
  protected abstract bytesOf(id: number): Buffer;

  encode(text: string, opts: { special?: boolean } = {}): number[] {
    return this.encodeParts(opts.special ? this.splitSpecial(text) : [{ text }]);
  }

  encodeParts(parts: readonly ChatPart[]): number[] {
    const out: number[] = [];
    let afterSpecial = true;
    let run = '';
    const flush = (): void => {
      if (run !== '') for (const id of this.encodeText(run, afterSpecial)) out.push(id);
      if (run !== '') afterSpecial = false;
      run = '';
    };
    for (const p of parts) {
      if ('text' in p) {
        run += p.text;
        continue;
      }
      flush();
      const id = this.index.get(p.special);
      if (id === undefined) throw new MagnetError('ERR_TOKENIZER', `the vocabulary has no token ${JSON.stringify(p.special)}`);
      out.push(id);
      afterSpecial = true;
    }
    flush();
    return out;
  }

  idOf(text: string): number | undefined {
    return this.index.get(text);
  }

  pieceBytes(id: number): Buffer {
    if (this.pieces.length === 0) for (let i = 0; i < this.vocabSize; i++) this.pieces.push(this.bytesOf(i));
    return this.pieces[id] ?? Buffer.alloc(0);
  }

  /** Splits at special-token texts (leftmost, then longest match). */
  private splitSpecial(text: string): ChatPart[] {
    const parts: ChatPart[] = [];
    let from = 0;
    for (let i = 0; i < text.length; i++) {
      const hit = this.specials.get(text[i]!)?.find((s) => text.startsWith(s, i));
      if (!hit) continue;
      if (i > from) parts.push({ text: text.slice(from, i) });
      parts.push({ special: hit });
      from = i + hit.length;
      i = from - 1;
    }
    if (from < text.length) parts.push({ text: text.slice(from) });
    return parts;
  }
}
