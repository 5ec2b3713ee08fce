import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../version.js';
import { readGgufMetadata } from '../gguf-meta.js';
import { chatTemplateFor, encodePrompt } from './chat.js';
import { tokenizerFromGguf } from './from-gguf.js';
import type { Tokenizer } from './types.js';

// Goldens made by test/golden/tokenizers/make_golden.py with the reference libraries (`tokenizers`,
// `sentencepiece`); the Python suite checks that the references still give these ids.
const GOLDEN = join(REPO_ROOT, 'test', 'golden', 'tokenizers');
const cases = JSON.parse(readFileSync(join(GOLDEN, 'cases.json'), 'utf8')) as { texts: string[]; ids: Record<string, number[][]> };

async function load(name: string, rows?: number): Promise<Tokenizer> {
  const meta = await readGgufMetadata(join(GOLDEN, `${name}.gguf`));
  const n = rows ?? (meta.get('tokenizer.ggml.tokens') as string[]).length;
  return tokenizerFromGguf(meta, n, `${name}.gguf`);
}

describe('tokenizers from GGUF, id for id with the reference libraries', () => {
  for (const [name, kind] of [
    ['bpe-gpt2', 'bpe'],
    ['bpe-llama3', 'bpe'],
    ['spm', 'sentencepiece'],
  ] as const) {
    it(`${name}: every golden text encodes to the reference ids, and decodes back to the text`, async () => {
      const tok = await load(name);
      assert.equal(tok.kind, kind);
      const wrong: string[] = [];
      cases.texts.forEach((text, i) => {
        const want = cases.ids[name]![i]!;
        const got = tok.encode(text);
        if (JSON.stringify(got) !== JSON.stringify(want))
          wrong.push(`${JSON.stringify(text)}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
        // What generation emits for these ids is the text again (SentencePiece: after the space prefix it added).
        const back = Buffer.concat(want.map((id) => tok.pieceBytes(id))).toString('utf8');
        const expected = kind === 'sentencepiece' && text !== '' ? ` ${text}` : text;
        if (back !== expected) wrong.push(`${JSON.stringify(text)} decodes to ${JSON.stringify(back)}`);
      });
      assert.deepEqual(wrong, []);
    });
  }

  it('the issue example: 17 tokens by the file, not 39 bytes', async () => {
    const tok = await load('bpe-gpt2');
    assert.equal(tok.encode('def add(a, b):\n    return a + b  # sum').length, 17);
  });

  it("special-token texts are text in a user's input and tokens only where the server puts them", async () => {
    const tok = await load('bpe-llama3');
    const eot = tok.idOf('<|eot_id|>')!;
    assert.ok(!tok.encode('a<|eot_id|>b').includes(eot));
    assert.deepEqual(tok.encode('a<|eot_id|>b', { special: true }), [...tok.encode('a'), eot, ...tok.encode('b')]);
    assert.ok(tok.endIds.includes(eot), 'end of turn ends a generation');
    assert.ok(tok.endIds.includes(tok.eos));
  });

  it('chat formats: llama3 from the file, turn boundaries as tokens, the plain format when the file has none', async () => {
    const llama3 = await load('bpe-llama3');
    const chat = chatTemplateFor(llama3, readTemplate(await readGgufMetadata(join(GOLDEN, 'bpe-llama3.gguf'))));
    assert.equal(chat.format, 'llama3');
    const ids = chat.render([{ role: 'user', content: 'hi <|eot_id|>' }]);
    const id = (t: string) => llama3.idOf(t)!;
    assert.equal(ids[0], id('<|begin_of_text|>'));
    assert.equal(ids[1], id('<|start_header_id|>'));
    assert.equal(ids.filter((x) => x === id('<|eot_id|>')).length, 1, "the user's '<|eot_id|>' stays text");
    const tail = [id('<|start_header_id|>'), ...llama3.encode('assistant'), id('<|end_header_id|>'), ...llama3.encode('\n\n')];
    assert.deepEqual(ids.slice(-tail.length), tail, 'the prompt ends where the reply starts');
    const gpt2 = await load('bpe-gpt2');
    const plain = chatTemplateFor(gpt2, undefined);
    assert.equal(plain.format, 'plain');
    assert.deepEqual(plain.render([{ role: 'user', content: 'hi' }]), gpt2.encode('user: hi\nassistant:'));
    const unknown = chatTemplateFor(gpt2, '{{ something_else }}');
    assert.equal(unknown.format, 'plain');
    assert.match(unknown.note, /not one this server renders/);
    const lacking = chatTemplateFor(gpt2, '<|im_start|>{{ x }}');
    assert.match(lacking.note, /lacks <\|im_start\|>, <\|im_end\|>/);
  });

  it('SentencePiece: BOS first when the file asks for it; bytes outside the vocabulary fall back to <0xNN>', async () => {
    const tok = await load('spm');
    const ids = encodePrompt(tok, '🚀');
    assert.equal(ids[0], tok.bos);
    assert.deepEqual(
      ids.slice(-4).map((i) => tok.pieceBytes(i)[0]),
      [...Buffer.from('🚀')],
    );
  });

  it('refused at load, naming the key: unknown tokenizer model or pre-tokenizer, a vocabulary that disagrees with the embedding', async () => {
    const meta = await readGgufMetadata(join(GOLDEN, 'bpe-llama3.gguf'));
    const n = (meta.get('tokenizer.ggml.tokens') as string[]).length;
    assert.throws(
      () => tokenizerFromGguf(meta, n + 2, 'x.gguf'),
      /the vocabulary has 1024 tokens \(tokenizer.ggml.tokens\) but token_embd.weight has 1026 rows/,
    );
    const other = new Map(meta).set('tokenizer.ggml.model', 'rwkv');
    assert.throws(() => tokenizerFromGguf(other, n, 'x.gguf'), /tokenizer model "rwkv" \(key tokenizer.ggml.model\) is not supported/);
    const pre = new Map(meta).set('tokenizer.ggml.pre', 'deepseek-coder');
    assert.throws(
      () => tokenizerFromGguf(pre, n, 'x.gguf'),
      /BPE pre-tokenizer "deepseek-coder" \(key tokenizer.ggml.pre\) is not supported/,
    );
    const none = new Map(meta);
    none.delete('tokenizer.ggml.model');
    assert.throws(() => tokenizerFromGguf(none, n, 'x.gguf'), /names no tokenizer/);
    const noMerges = new Map(meta);
    noMerges.delete('tokenizer.ggml.merges');
    assert.throws(() => tokenizerFromGguf(noMerges, n, 'x.gguf'), /tokenizer.ggml.merges is missing/);
  });

  it("this project's byte vocabulary (llama model, <0xNN> tokens only) is plain bytes: a space is one byte, not '▁'", () => {
    const tokens = [...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`), '<s>', '</s>'];
    const meta = new Map<string, never>(
      Object.entries({
        'tokenizer.ggml.model': 'llama',
        'tokenizer.ggml.tokens': tokens,
        'tokenizer.ggml.token_type': [...Array(256).fill(6), 3, 3],
        'tokenizer.ggml.bos_token_id': 256,
        'tokenizer.ggml.eos_token_id': 257,
      }) as [string, never][],
    );
    const tok = tokenizerFromGguf(meta, 258, 'bytes.gguf');
    assert.equal(tok.kind, 'bytes');
    assert.deepEqual(encodePrompt(tok, 'a b'), [256, 97, 32, 98]);
    assert.deepEqual([...tok.pieceBytes(32)], [32]);
    assert.equal(tok.pieceBytes(257).length, 0);
  });
});

function readTemplate(meta: Map<string, unknown>): string | undefined {
  const t = meta.get('tokenizer.chat_template');
  return typeof t === 'string' ? t : undefined;
}
