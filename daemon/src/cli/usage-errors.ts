import type { Command } from 'commander';

/** The exit code of a usage error (an unknown option or command, a missing argument), as POSIX tools use it. */
export const USAGE_EXIT_CODE = 2;

/**
 * Makes every command (and its subcommands, added before this call) report a usage error in one line naming the
 * command and what was wrong, with where to look, instead of the whole help:
 * `magnet-node start: unknown option '--bogus'; see magnet-node start --help`.
 */
export function shortUsageErrors(cmd: Command, path = cmd.name()): void {
  cmd.showHelpAfterError(false).configureOutput({
    outputError: (str, write) => write(`${path}: ${oneLine(str)}; see ${path} --help\n`),
  });
  for (const sub of cmd.commands) shortUsageErrors(sub, `${path} ${sub.name()}`);
}

/** Commander's "error: unknown option '--hme'\n(Did you mean --home?)" as "unknown option '--hme' (Did you mean --home?)". */
function oneLine(message: string): string {
  return message
    .trim()
    .replace(/^error:\s*/, '')
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\.$/, '');
}
