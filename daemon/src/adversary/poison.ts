import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { trainerPython } from '../diloco/trainer-runner.js';
import { sha256File } from '../util/hash.js';

const run = promisify(execFile);

/**
 * Writes `src` (a pseudo-gradient) scaled by `factor` to `dest`, metadata kept: with a negative factor, the honest
 * update reversed. Uses the trainer's own Python (numpy and safetensors), like any tool of the adversary.
 */
export async function poisonGradient(src: string, dest: string, factor: number, python = ''): Promise<{ sha256: string; size: number }> {
  const py = `
import sys, numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open
src, dest, factor = sys.argv[1], sys.argv[2], float(sys.argv[3])
with safe_open(src, "np") as f: meta = f.metadata()
t = load_file(src)
t = {n: (v * factor).astype(v.dtype) if v.dtype.kind == "f" else v for n, v in t.items()}
save_file(t, dest, metadata=meta)
`;
  await run(trainerPython(python), ['-c', py, src, dest, String(factor)]);
  return { sha256: await sha256File(dest), size: 0 };
}
