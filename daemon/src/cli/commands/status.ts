import type { Command } from 'commander';
import { callDaemon } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

type Status = Record<string, unknown> & {
  nodeId: string;
  address: string;
  tier: string;
  roles: string[];
  version: string;
  uptimeSeconds: number;
  listen: Record<string, unknown>;
};

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('ask the running daemon for its status')
    .option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)')
    .option('--json', 'print the full status as JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const status = await callDaemon<Status>(resolveHome(flags.home), '/status');
        if (flags.json) printJson(status);
        else process.stdout.write(formatStatus(status));
      } catch (err) {
        fail(err);
      }
    });
}

export function formatStatus(s: Status): string {
  const lines = [
    `node      ${s.nodeId}`,
    `wallet    ${s.address}`,
    `version   ${s.version}   uptime ${s.uptimeSeconds}s`,
    `tier      ${s.tier}   roles ${s.roles.join(', ')}`,
    ...Object.entries(s.listen).map(([k, v]) => `${k.padEnd(9)} ${Array.isArray(v) ? v.join('\n          ') : String(v)}`),
  ];
  const skip = new Set(['nodeId', 'address', 'version', 'uptimeSeconds', 'tier', 'tierMultiplier', 'roles', 'listen', 'ready', 'profile']);
  for (const [k, v] of Object.entries(s)) {
    if (skip.has(k)) continue;
    lines.push(`${k.padEnd(9)} ${JSON.stringify(v)}`);
  }
  return `${lines.join('\n')}\n`;
}
