import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPath } from './native.js';

/** The repository root, found from this file (daemon/src/serve or dist/daemon/src/serve). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'native', 'CMakeLists.txt'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root not found');
}

/**
 * Why a serve test cannot run here (the addon or the model generator is not built), or undefined. Under
 * `npm run test:native` (MAGNET_REQUIRE_NATIVE=1) a missing build is a failure, not a skip.
 */
export function nativeMissing(): string | undefined {
  let why: string | undefined;
  try {
    addonPath();
  } catch (err) {
    why = (err as Error).message;
  }
  if (!why && !existsSync(genModelPath())) why = `model generator not built: ${genModelPath()} (run bash native/test.sh)`;
  if (why && process.env['MAGNET_REQUIRE_NATIVE'] === '1') throw new Error(why);
  return why;
}

export function genModelPath(): string {
  return join(repoRoot(), 'native', 'build', 'cmake', 'gen_model');
}

/** Writes a random ternary GGUF with the native generator (real file, real loader). */
export function randomModel(name: string, args: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-serve-'));
  const out = join(dir, `${name}.gguf`);
  execFileSync(genModelPath(), ['--out', out, '--preset', 'tiny', ...args], { stdio: 'pipe' });
  return out;
}
