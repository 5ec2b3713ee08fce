import type { Command } from 'commander';
import { NODE_ID_PATTERN } from '../../identity/node-id.js';
import { forgetPeer } from '../../net/offline.js';
import { HomeDir } from '../../node/home.js';
import { MagnetError, isMagnetError } from '../../util/errors.js';
import { callDaemon } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

interface PeerRow {
  nodeId: string;
  state: string;
  grpcAddress: string;
  tier: string;
  roles: string[];
  certSha256: string | null;
  lastHeartbeat: number | null;
  failures: number;
}

export function registerPeersCommands(program: Command): void {
  const peers = program
    .command('peers')
    .description('list the peer book of the running daemon (state, address, tier, roles, pinned certificate)')
    .option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)')
    .option('--json', 'print JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const { peers: rows } = await callDaemon<{ peers: PeerRow[] }>(resolveHome(flags.home), '/net/peers');
        if (flags.json) printJson({ peers: rows });
        else process.stdout.write(formatPeers(rows));
      } catch (err) {
        fail(err);
      }
    });
  peers
    .command('forget <nodeId>')
    .description('forget a peer and its pinned certificate (after it legitimately rotated its certificate)')
    .option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)')
    .action(async (nodeId: string, flags: { home?: string }) => {
      try {
        if (!NODE_ID_PATTERN.test(nodeId)) throw new MagnetError('ERR_BAD_NODE_ID', `"${nodeId}" is not a nodeId (node-<16 hex digits>)`);
        const home = resolveHome(flags.home);
        let forgotten: boolean;
        try {
          forgotten = (await callDaemon<{ forgotten: boolean }>(home, '/net/peers/forget', { method: 'POST', body: { nodeId } })).forgotten;
        } catch (err) {
          if (!isMagnetError(err, 'ERR_NO_DAEMON')) throw err;
          // No daemon running: edit the peer book directly (through net's offline facade).
          forgotten = forgetPeer(new HomeDir(home).database, nodeId);
        }
        process.stdout.write(forgotten ? `forgot ${nodeId} and its pinned certificate\n` : `${nodeId} was not in the peer book\n`);
      } catch (err) {
        fail(err);
      }
    });
}

/** A table with a header row: one peer per line, its failures counted. */
export function formatPeers(rows: PeerRow[], now = Date.now()): string {
  if (rows.length === 0) return 'no peers known\n';
  const table = [
    ['NODE', 'STATE', 'GRPC', 'TIER', 'ROLES', 'HEARTBEAT', 'FAILURES', 'PINNED CERT'],
    ...rows.map((r) => [
      r.nodeId,
      r.state,
      r.grpcAddress || '-',
      r.tier || '-',
      r.roles.join(',') || '-',
      r.lastHeartbeat ? `${Math.round((now - r.lastHeartbeat) / 1000)} s ago` : 'never',
      String(r.failures ?? 0),
      r.certSha256 ? r.certSha256.slice(0, 16) : '-',
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => (row[c] as string).length)));
  const live = rows.filter((r) => r.state === 'live').length;
  const lines = table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] as number))).join('  '));
  return `${lines.join('\n')}\n${rows.length} peers, ${live} live\n`;
}
