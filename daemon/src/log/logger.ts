import { pino, type Logger as PinoLogger } from 'pino';
import pretty from 'pino-pretty';

export type Logger = PinoLogger;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Structured JSON logs on stdout; human-readable lines when stdout is a terminal, one line per event. Each part takes a child
 * logger: `logger.child({ part: 'net' })`.
 */
export function createLogger(level: LogLevel, opts: { pretty?: boolean } = {}): Logger {
  const wantPretty = opts.pretty ?? process.stdout.isTTY === true;
  const base = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (wantPretty)
    return pino(base, pretty({ colorize: true, sync: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' }));
  return pino(base, pino.destination({ dest: 1, sync: true }));
}
