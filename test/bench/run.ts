/**
 * `npm run bench`: runs every benchmark module in this folder (each exports `run()` and prints its figures and
 * ratios against a reference measured in the same run), or only those whose file name contains an argument.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.js') && f !== 'run.js')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

let failed = 0;
for (const f of files) {
  console.log(`\n=== bench ${f.replace(/\.js$/, '')}`);
  try {
    const mod = (await import(pathToFileURL(join(here, f)).href)) as { run?: () => Promise<void> };
    if (typeof mod.run !== 'function') throw new Error('does not export run()');
    await mod.run();
  } catch (err) {
    failed++;
    console.error(`bench ${f} failed:`, err);
  }
}
if (failed > 0) process.exit(1);
