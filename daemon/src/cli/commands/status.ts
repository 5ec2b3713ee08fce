import type { Command } from 'commander';
import { callDaemon } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';
import { formatStatus } from '../status-text.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('ask the running daemon for its status')
    .option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)')
    .option('--json', 'print the full status as JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const status = await callDaemon<Record<string, unknown>>(resolveHome(flags.home), '/status');
        if (flags.json) printJson(status);
        else process.stdout.write(formatStatus(status));
      } catch (err) {
        fail(err);
      }
    });
}
