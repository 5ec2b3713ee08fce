import type { Command } from 'commander';
import { callDaemon, daemonEndpoint } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail } from '../output.js';

/**
 * `magnet-node dashboard`: the running daemon's dashboard link, with the admin token in its fragment (read by the
 * page, never sent to a server or written to a log). It is a secret: whoever has it can call the admin API.
 */
export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description("print the link to the running daemon's dashboard (peers, rounds, loss, storage, serving, claims), with its admin token")
    .option('--home <dir>', 'data directory of the node (default ~/.magnet, env MAGNET_HOME)')
    .action(async (flags: { home?: string }) => {
      try {
        const home = resolveHome(flags.home);
        await callDaemon(home, '/status', { timeoutMs: 5_000 }); // a clear error when no daemon runs there
        const ep = daemonEndpoint(home);
        process.stdout.write(`${ep.admin}/dashboard#token=${ep.token}\n`);
        process.stderr.write('open it in a browser on this machine; the link holds the admin token: do not share it\n');
      } catch (err) {
        fail(err);
      }
    });
}
