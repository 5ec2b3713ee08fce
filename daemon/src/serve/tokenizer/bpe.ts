import { TokenType } from './types.js';
import { type VocabSpec, VocabTokenizer } from './vocab.js';

/**
 * Pre-tokenizers by their GGUF name (`tokenizer.ggml.pre`): the regular expression that splits text into words
 * before BPE, and whether a word found whole in the vocabulary skips the merges (LLaMA 3 does). JavaScript has
 * no inline `(?i:)`, so LLaMA 3's case-insensitive contractions are spelled out.
 */
const GPT2 = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const LLAMA3 =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

export const PRE_TOKENIZERS: Record<string, { pattern: RegExp; ignoreMerges: boolean }> = {
  default: { pattern: GPT2, ignoreMerges: false },
  gpt2: { pattern: GPT2, ignoreMerges: false },
  'llama-bpe': { pattern: LLAMA3, ignoreMerges: true },
  llama3: { pattern: LLAMA3, ignoreMerges: true },
};

/** GPT-2's map of the 256 bytes onto printable characters (byte-level BPE vocabularies are written in it). */
const BYTE_TO_CHAR: string[] = [];
const CHAR_TO_BYTE = new Map<string, number>();
{
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const ch = String.fromCodePoint(printable ? b : 256 + extra++);
    BYTE_TO_CHAR.push(ch);
    CHAR_TO_BYTE.set(ch, b);
  }
}

/** Words of `text` by the pattern; anything the pattern skips is a word of its own (nothing is dropped). */
function* words(text: string, pattern: RegExp): Generator<string> {
  let from = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index > from) yield text.slice(from, m.index);
    if (m[0].length > 0) yield m[0];
    from = m.index + m[0].length;
  }
  if (from < text.length) yield text.slice(from);
}

/**
 * Byte-level BPE (`tokenizer.ggml.model` = gpt2), as the `tokenizers` package and llama.cpp do it: split into
 * words by the pre-tokenizer, write each word's UTF-8 bytes in GPT-2's byte alphabet, then apply the file's
 * merges, lowest rank first.
 */
export class BpeTokenizer extends VocabTokenizer {
  readonly kind = 'bpe' as const;
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly pattern: RegExp;
  private readonly ignoreMerges: boolean;

  constructor(
    v: VocabSpec,
    merges: readonly string[],
    private readonly pre: string,
  ) {
    super(v);
    merges.forEach((m, rank) => {
      if (!this.ranks.has(m)) this.ranks.set(m, rank);
    });
    const p = PRE_TOKENIZERS[pre]!;
    this.pattern = p.pattern;
    this.ignoreMerges = p.ignoreMerges;
  }

  get description(): string {
    return `BPE (pre-tokenizer ${this.pre}), ${this.vocabSize} tokens`;
  }

  protected encodeText(text: string): number[] {
    const out: number[] = [];
    for (const w of words(text, this.pattern)) {
      let mapped = '';
      for (const b of Buffer.from(w, 'utf8')) mapped += BYTE_TO_CHAR[b];
      let ids = this.cache.get(mapped);
      if (!ids) {
        ids = this.word(mapped);
        if (this.cache.size > 50_000) this.cache.clear(); // bounded: prompts are attacker-chosen
        this.cache.set(mapped, ids);
      }
      for (const id of ids) out.push(id);
    }
    return out;
  }

  private word(mapped: string): number[] {
    if (this.ignoreMerges) {
      const whole = this.index.get(mapped);
      if (whole !== undefined) return [whole];
    }
    let sym = Array.from(mapped);
    while (sym.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < sym.length; i++) {
        const r = this.ranks.get(`${sym[i]} ${sym[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = sym[best]!;
      const b = sym[best + 1]!;
      const merged: string[] = [];
      for (let i = 0; i < sym.length; i++) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else merged.push(sym[i]!);
      }
      sym = merged;
    }
    const out: number[] = [];
    for (const s of sym) {
      const id = this.index.get(s) ?? this.v.unk;
      if (id !== undefined) out.push(id);
    }
    return out;
  }

  protected bytesOf(id: number): Buffer {
    const t = this.v.tokens[id] ?? '';
    const ty = this.v.types[id];
    if (ty === TokenType.control || ty === TokenType.unknown || ty === TokenType.unused) return Buffer.alloc(0);
    if (ty === TokenType.userDefined) return Buffer.from(t, 'utf8');
    const bytes: number[] = [];
    for (const ch of t) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b !== undefined) bytes.push(b);
      else bytes.push(...Buffer.from(ch, 'utf8'));
    }
    return Buffer.from(bytes);
  }
}
