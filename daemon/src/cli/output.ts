import { isMagnetError, errorMessage } from '../util/errors.js';

/** The CLI's only way out on failure: one clear line on stderr and a non-zero exit code. */
export function fail(err: unknown, exitCode = 1): never {
  const code = isMagnetError(err) ? ` [${err.code}]` : '';
  process.stderr.write(`magnet-node: ${errorMessage(err)}${code}\n`);
  process.exit(exitCode);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
