/**
 * Tokenizer throughput: the server's tokenizers (from the golden GGUFs) against the reference libraries
 * (`tokenizers`, `sentencepiece`, in the trainer's venv) on the same text, one thread each, best of 3; and the ids
 * of the whole text compared, a parity check far larger than the unit test's 25 cases.
 *   npm run bench -- tokenizer
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufMetadata } from '../../daemon/src/serve/gguf-meta.js';
import { tokenizerFromGguf } from '../../daemon/src/serve/tokenizer/from-gguf.js';
import { REPO_ROOT } from '../../daemon/src/version.js';

const GOLDEN = join(REPO_ROOT, 'test', 'golden', 'tokenizers');

/** About 1 MB of this repository's own text: Python, TypeScript and the README. */
function corpus(): string {
  const dirs = [
    join(REPO_ROOT, 'python', 'magnet_trainer'),
    join(REPO_ROOT, 'daemon', 'src', 'serve'),
    join(REPO_ROOT, 'daemon', 'src', 'diloco'),
  ];
  let text = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  for (const d of dirs)
    for (const f of readdirSync(d)
      .filter((x) => /\.(py|ts)$/.test(x))
      .sort())
      text += readFileSync(join(d, f), 'utf8');
  return text;
}

const REFERENCE = `
import json, sys, time
import sentencepiece as spm
from tokenizers import Tokenizer
golden, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
out = {}
for name in ("bpe-gpt2", "bpe-llama3", "spm"):
    if name == "spm":
        sp = spm.SentencePieceProcessor(model_file=f"{golden}/spm.model")
        enc = sp.encode
    else:
        tok = Tokenizer.from_file(f"{golden}/{name}.json")
        tok.encode_special_tokens = True
        enc = lambda s, tok=tok: tok.encode(s, add_special_tokens=False).ids
    best, ids = 1e9, None
    for _ in range(3):
        t0 = time.perf_counter(); ids = enc(text); best = min(best, time.perf_counter() - t0)
    out[name] = {"seconds": best, "ids": ids}
print(json.dumps(out))
`;

export async function run(): Promise<void> {
  const text = corpus();
  const file = join(tmpdir(), `magnet-tokenizer-bench-${process.pid}.txt`);
  writeFileSync(file, text);
  const py = join(REPO_ROOT, '.venv', 'bin', 'python');
  const ref = JSON.parse(
    execFileSync(py, ['-c', REFERENCE, GOLDEN, file], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      env: { ...process.env, RAYON_NUM_THREADS: '1' },
    }),
  ) as Record<string, { seconds: number; ids: number[] }>;
  console.log(`corpus: ${(Buffer.byteLength(text) / 1e6).toFixed(2)} MB of this repository's text`);
  for (const name of ['bpe-gpt2', 'bpe-llama3', 'spm']) {
    const meta = await readGgufMetadata(join(GOLDEN, `${name}.gguf`));
    const tok = tokenizerFromGguf(meta, (meta.get('tokenizer.ggml.tokens') as string[]).length, name);
    let best = Infinity;
    let ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      ids = tok.encode(text);
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    const r = ref[name]!;
    const same = ids.length === r.ids.length && ids.every((x, i) => x === r.ids[i]);
    const firstDiff = same ? -1 : ids.findIndex((x, i) => x !== r.ids[i]);
    console.log(
      `${name}: ${ids.length} tokens; ours ${Math.round(ids.length / best)} tokens/s, reference ${Math.round(r.ids.length / r.seconds)} tokens/s ` +
        `(ours ${(r.seconds / best).toFixed(2)}x the reference's speed); ids ${same ? 'identical' : `differ from token ${firstDiff}`}`,
    );
    if (!same) process.exitCode = 1;
  }
}
