import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kernelInfo, loadNativeModel } from './native.js';
import { loadServedModel } from './served-model.js';
import { nativeMissing } from '../../../test/helpers/native-models.js';
import { REPO_ROOT } from '../version.js';

// Largest |native - trainer| allowed on a logit. Both sides compute the same integer dot products; what differs is
// float summation order in RMSNorm, attention and the f32 head (about 1e-6 relative), far below this bound.
const TOLERANCE = 1e-4;

function trainerMissing(): string | undefined {
  const py = join(REPO_ROOT, '.venv', 'bin', 'python');
  if (existsSync(py)) return undefined;
  const why = `the trainer venv is missing (${py}; run bash python/install.sh)`;
  if (process.env['MAGNET_REQUIRE_NATIVE'] === '1') throw new Error(why);
  return why;
}

const skip = nativeMissing() ?? trainerMissing();

test('logits of the trainer export match the PyTorch ternary forward (golden file)', { skip, timeout: 180_000 }, async () => {
  const root = REPO_ROOT;
  const golden = JSON.parse(readFileSync(join(root, 'test', 'golden', 'trainer', 'tiny_seed1_logits.json'), 'utf8')) as {
    tokens: number[];
    logits: number[][];
    checkpoint_sha256: string;
  };
  const dir = mkdtempSync(join(tmpdir(), 'magnet-parity-'));
  try {
    const ck = join(dir, 'tiny.safetensors');
    const gguf = join(dir, 'tiny.gguf');
    const py = join(root, '.venv', 'bin', 'python');
    const run = (...args: string[]): void =>
      void execFileSync(py, ['-m', 'magnet_trainer', ...args], { cwd: join(root, 'python'), stdio: 'pipe' });
    run('init', '--preset', 'tiny', '--seed', '1', '--out', ck);
    run('export', '--ckpt', ck, '--out', gguf);
    // kvF32: the KV cache holds exactly what the trainer's attention sees (f16 would round it).
    const model = await loadNativeModel(gguf, { threads: 1, kvF32: true });
    try {
      const info = model.info();
      assert.equal(info.checkpointSha256, golden.checkpoint_sha256, 'the re-created checkpoint is the golden one');
      const out = await model.logits(Int32Array.from(golden.tokens));
      const vocab = info.vocabSize;
      assert.equal(out.length, golden.tokens.length * vocab);
      let maxDiff = 0;
      let maxAbs = 0;
      golden.logits.forEach((row, t) =>
        row.forEach((v, i) => {
          maxDiff = Math.max(maxDiff, Math.abs((out[t * vocab + i] as number) - v));
          maxAbs = Math.max(maxAbs, Math.abs(v));
        }),
      );
      process.stdout.write(
        `# parity (kernel ${kernelInfo().kernel}): max |native - trainer| = ${maxDiff.toExponential(2)} (max |logit| ${maxAbs.toFixed(2)})\n`,
      );
      assert.ok(maxDiff <= TOLERANCE, `max |native - trainer| logit difference ${maxDiff} exceeds ${TOLERANCE}`);
    } finally {
      model.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bitnet (ReLU², sub-norms): the trainer export matches the PyTorch ternary forward', { skip, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-parity-bitnet-'));
  try {
    const py = join(REPO_ROOT, '.venv', 'bin', 'python');
    const run = (...args: string[]): void =>
      void execFileSync(py, ['-m', 'magnet_trainer', ...args], { cwd: join(REPO_ROOT, 'python'), stdio: 'pipe' });
    const ck = join(dir, 'bitnet.safetensors');
    const tokens = [256, 72, 101, 108, 108, 111, 44, 32, 98, 105, 116, 110, 101, 116];
    run('init', '--preset', 'tiny', '--seed', '1', '--arch', 'bitnet', '--out', ck);
    run('export', '--ckpt', ck, '--out', join(dir, 'bitnet.gguf'));
    run('logits', '--ckpt', ck, '--tokens', tokens.join(','), '--out', join(dir, 'logits.json'));
    const want = JSON.parse(readFileSync(join(dir, 'logits.json'), 'utf8')) as { logits: number[][] };
    const model = await loadNativeModel(join(dir, 'bitnet.gguf'), { threads: 1, kvF32: true });
    try {
      assert.equal(model.info().arch, 'bitnet-b1.58');
      const out = await model.logits(Int32Array.from(tokens));
      const vocab = model.info().vocabSize;
      let maxDiff = 0;
      want.logits.forEach((row, t) => row.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs((out[t * vocab + i] as number) - v)))));
      process.stdout.write(`# bitnet parity: max |native - trainer| = ${maxDiff.toExponential(2)}\n`);
      assert.ok(maxDiff <= TOLERANCE, `max |native - trainer| logit difference ${maxDiff} exceeds ${TOLERANCE}`);
    } finally {
      model.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a BPE tokenizer the trainer built is served exactly as the trainer tokenizes', { skip, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-parity-bpe-'));
  try {
    const py = join(REPO_ROOT, '.venv', 'bin', 'python');
    const run = (...args: string[]): string =>
      execFileSync(py, ['-m', 'magnet_trainer', ...args], { cwd: join(REPO_ROOT, 'python'), encoding: 'utf8' });
    const tok = join(dir, 'tokenizer.json');
    const ck = join(dir, 'bpe.safetensors');
    const gguf = join(dir, 'bpe.gguf');
    run('tokenizer', '--data', 'stdlib', '--vocab', '2048', '--out', tok);
    run('init', '--preset', 'tiny', '--seed', '1', '--tokenizer', tok, '--out', ck);
    run('export', '--ckpt', ck, '--tokenizer', tok, '--out', gguf);
    const texts = ['def add(a, b):\n    return a + b  # sum', "I'm here, aren't you? 12345", 'naïve café 日本 🚀', '   spaces\t\ttabs\n\n'];
    const ref = JSON.parse(
      execFileSync(
        py,
        [
          '-c',
          'import json,sys\nfrom tokenizers import Tokenizer\nt=Tokenizer.from_file(sys.argv[1])\nt.encode_special_tokens=True\n' +
            'print(json.dumps([t.encode(s, add_special_tokens=False).ids for s in json.loads(sys.argv[2])]))',
          tok,
          JSON.stringify(texts),
        ],
        { encoding: 'utf8' },
      ),
    ) as number[][];
    const served = await loadServedModel(gguf, { threads: 1 });
    try {
      assert.equal(served.tokenizer.kind, 'bpe');
      assert.equal(served.info.vocabSize, 2048);
      texts.forEach((t, i) => assert.deepEqual(served.tokenizer.encode(t), ref[i], JSON.stringify(t)));
      assert.equal(served.tokenizer.bos, served.tokenizer.idOf('<|begin_of_text|>'));
    } finally {
      served.native.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
