import { TokenType } from './types.js';
import { type VocabSpec, VocabTokenizer } from './vocab.js';

const SPACE = '\u2581'; // "▁", SentencePiece's visible space

/** A candidate merge of two adjacent symbols; the best is the highest score, then the leftmost. */
interface Bigram {
  left: number;
  right: number;
  score: number;
  size: number;
}

/** A binary max-heap of bigrams (score, then leftmost). */
class BigramHeap {
  private readonly a: Bigram[] = [];
  get size(): number {
    return this.a.length;
  }
  private better(x: Bigram, y: Bigram): boolean {
    return x.score > y.score || (x.score === y.score && x.left < y.left);
  }
  push(b: Bigram): void {
    const a = this.a;
    a.push(b);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.better(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Bigram | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.better(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.better(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * SentencePiece's BPE encoding (`tokenizer.ggml.model` = llama), as the sentencepiece library and llama.cpp do
 * it: spaces become "▁" (one more in front of the text when the file asks for a space prefix), characters are
 * merged pairwise, highest-scoring vocabulary entry first, and a character left outside the vocabulary falls
 * back to its UTF-8 bytes as `<0xNN>` tokens.
 */
export class SentencePieceTokenizer extends VocabTokenizer {
  readonly kind = 'sentencepiece' as const;
  private readonly byteIds: (number | undefined)[] = [];

  constructor(
    v: VocabSpec,
    private readonly addSpacePrefix: boolean,
  ) {
    super(v);
    for (let b = 0; b < 256; b++) this.byteIds.push(this.index.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
  }

  get description(): string {
    return `SentencePiece, ${this.vocabSize} tokens`;
  }

  protected encodeText(text: string, afterSpecial: boolean): number[] {
    const s = ((this.addSpacePrefix && afterSpecial ? ' ' : '') + text).replaceAll(' ', SPACE);
    const sym = Array.from(s);
    const prev = sym.map((_, i) => i - 1);
    const next = sym.map((_, i) => (i + 1 < sym.length ? i + 1 : -1));
    const heap = new BigramHeap();
    const tryAdd = (left: number, right: number): void => {
      if (left < 0 || right < 0) return;
      const merged = sym[left]! + sym[right]!;
      const id = this.index.get(merged);
      if (id === undefined) return;
      heap.push({ left, right, score: this.v.scores[id] ?? 0, size: merged.length });
    };
    for (let i = 1; i < sym.length; i++) tryAdd(i - 1, i);
    while (heap.size > 0) {
      const b = heap.pop()!;
      const l = sym[b.left]!;
      const r = sym[b.right]!;
      // Stale: one side was merged away or grew since this bigram was queued.
      if (l === '' || r === '' || l.length + r.length !== b.size || next[b.left] !== b.right) continue;
      sym[b.left] = l + r;
      sym[b.right] = '';
      next[b.left] = next[b.right]!;
      if (next[b.right]! >= 0) prev[next[b.right]!] = b.left;
      tryAdd(prev[b.left]!, b.left);
      tryAdd(b.left, next[b.left]!);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0 && i < sym.length; i = next[i]!) {
      const id = this.index.get(sym[i]!);
      if (id !== undefined && this.v.types[id] !== TokenType.unused) {
        out.push(id);
        continue;
      }
      for (const byte of Buffer.from(sym[i]!, 'utf8')) {
        const bid = this.byteIds[byte] ?? this.v.unk;
        if (bid !== undefined) out.push(bid);
      }
    }
    return out;
  }

  protected bytesOf(id: number): Buffer {
    const t = this.v.tokens[id] ?? '';
    switch (this.v.types[id]) {
      case TokenType.byte: {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
        return m ? Buffer.of(parseInt(m[1]!, 16)) : Buffer.alloc(0);
      }
      case TokenType.control:
      case TokenType.unknown:
      case TokenType.unused:
        return Buffer.alloc(0);
      default:
        return Buffer.from(t.replaceAll(SPACE, ' '), 'utf8');
    }
  }
}
