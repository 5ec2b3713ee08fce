import type { Command } from 'commander';
import { callDaemon } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

interface Counts {
  blobs: number;
  bytes: number;
}
interface GcAnswer {
  collected: string[];
  held: Counts;
  bytes: { ownedByKind: Record<string, Counts>; heldForPeersByPurpose: Record<string, Counts> };
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** `magnet-node gc`: the storage part's garbage collection now, instead of at the next maintenance round. */
export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .description(
      'run a storage garbage collection now: blobs kept for peers past their lease, and own blobs older than storage.gcKeepRounds (the latest checkpoint and blobs pending claims stay)',
    )
    .option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)')
    .option('--json', 'print the answer as JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const r = await callDaemon<GcAnswer>(resolveHome(flags.home), '/storage/gc', { method: 'POST', timeoutMs: 120_000 });
        if (flags.json) return printJson(r);
        const lines = [
          `own blobs unpinned   ${r.collected.length}`,
          `held blobs released  ${r.held.blobs} (${mb(r.held.bytes)})`,
          'kept now:',
          ...Object.entries(r.bytes.ownedByKind).map(
            ([k, c]) => `  own ${k.padEnd(18)} ${String(c.blobs).padStart(5)} blobs  ${mb(c.bytes)}`,
          ),
          ...Object.entries(r.bytes.heldForPeersByPurpose).map(
            ([p, c]) => `  for peers, ${p.padEnd(12)} ${String(c.blobs).padStart(5)} blobs  ${mb(c.bytes)}`,
          ),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (err) {
        fail(err);
      }
    });
}
