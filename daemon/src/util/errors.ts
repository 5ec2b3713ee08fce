/**
 * Errors with stable codes. Callers branch on `code`, never on message text.
 * The Python trainer reports its failures with the same kind of codes in JSON.
 */
export class MagnetError extends Error {
  override readonly name: string = 'MagnetError';
  constructor(
    readonly code: string,
    message: string,
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Bad configuration: names the key, the value and what is allowed. */
export class ConfigError extends MagnetError {
  override readonly name = 'ConfigError';
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('ERR_CONFIG', message, data);
  }
}

export function isMagnetError(err: unknown, code?: string): err is MagnetError {
  return err instanceof MagnetError && (code === undefined || err.code === code);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
