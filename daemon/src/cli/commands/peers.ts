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

function formatPeers(rows: PeerRow[]): string {
  if (rows.length === 0) return 'no peers known\n';
  const now = Date.now();
  return `${rows
    .map((r) => {
      const hb = r.lastHeartbeat ? `${Math.round((now - r.lastHeartbeat) / 1000)}s ago` : 'never';
      return `${r.nodeId}  ${r.state.padEnd(7)} ${r.grpcAddress.padEnd(21)} ${r.tier.padEnd(8)} ${r.roles.join(',').padEnd(20)} heartbeat ${hb}  cert ${r.certSha256 ? r.certSha256.slice(0, 16) : '-'}`;
    })
    .join('\n')}\n`;
}
