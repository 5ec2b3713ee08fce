import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { MagnetError } from '../util/errors.js';
import { REPO_ROOT } from '../version.js';

/**
 * The N-API addon (native/), shared by the parts that use it: serve (model kernels) and storage (the erasure
 * codec). Each part declares the slice of its exports it calls.
 */

let loaded: { path: string; module: unknown } | undefined;

/**
 * The configured addon file (serve.addon, env MAGNET_NATIVE_ADDON), else native/build/Release/magnet_native.node in
 * the repository (or installed package).
 */
export function addonPath(configured = ''): string {
  if (configured) return resolve(configured);
  const p = join(REPO_ROOT, 'native', 'build', 'Release', 'magnet_native.node');
  if (existsSync(p)) return p;
  throw new MagnetError(
    'ERR_NATIVE_MISSING',
    'the native addon is not built: run `npm run build:native` (native/build/Release/magnet_native.node)',
  );
}

/** Loads the addon once per process: the first caller's `configured` path counts (ServeService.start makes it early). */
export function loadAddonModule(configured = process.env.MAGNET_NATIVE_ADDON ?? ''): unknown {
  if (!loaded) {
    const path = addonPath(configured);
    loaded = { path, module: createRequire(import.meta.url)(path) };
  }
  return loaded.module;
}
