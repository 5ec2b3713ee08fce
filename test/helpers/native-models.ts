import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addonPath } from '../../daemon/src/native/addon.js';
import { addonFromEnv } from '../../daemon/src/serve/options.js';
import { REPO_ROOT } from '../../daemon/src/version.js';

/**
 * Why a serve test cannot run here (the addon or the model generator is not built), or undefined. Under
 * `npm run test:native` (MAGNET_REQUIRE_NATIVE=1) a missing build is a failure, not a skip.
 */
export function nativeMissing(): string | undefined {
  let why: string | undefined;
  try {
    addonPath(addonFromEnv());
  } catch (err) {
    why = (err as Error).message;
  }
  if (!why && !existsSync(genModelPath())) why = `model generator not built: ${genModelPath()} (run bash native/test.sh)`;
  if (why && process.env['MAGNET_REQUIRE_NATIVE'] === '1') throw new Error(why);
  return why;
}

export function genModelPath(): string {
  return join(REPO_ROOT, 'native', 'build', 'cmake', 'gen_model');
}

/** Writes a random ternary GGUF with the native generator (real file, real loader). */
export function randomModel(name: string, args: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-serve-'));
  const out = join(dir, `${name}.gguf`);
  execFileSync(genModelPath(), ['--out', out, '--preset', 'tiny', ...args], { stdio: 'pipe' });
  return out;
}
