import type { Command } from 'commander';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchTestnet } from '../../testnet/progress.js';
import { ProcessTestnet } from '../../testnet/testnet.js';
import { fail } from '../output.js';

interface Flags {
  nodes: string;
  dir?: string;
  preset: string;
  rounds: string;
  H: string;
  ipfsApi?: string;
}

export function registerTestnetCommand(program: Command): void {
  program
    .command('testnet')
    .description('run a local testnet: N daemons on loopback train a model together in DiLoCo rounds (Ctrl-C stops them all)')
    .option('--nodes <n>', 'number of daemons', '3')
    .option('--dir <dir>', 'parent directory of the node homes (default: a new temp directory)')
    .option('--preset <name>', 'model preset: tiny, small or genkidama', 'tiny')
    .option('--rounds <r>', 'stop after this many merged rounds (0 = run until Ctrl-C)', '3')
    .option('--H <steps>', 'inner steps per round', '20')
    .option('--ipfs-api <url>', "kubo RPC API every node pins shards to (default: each node's embedded store)")
    .action(async (f: Flags) => {
      const nodes = Number(f.nodes);
      const rounds = Number(f.rounds);
      const innerSteps = Number(f.H);
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 32) fail(new Error(`--nodes ${f.nodes}: allowed an integer in 1..32`));
      if (!Number.isInteger(rounds) || rounds < 0) fail(new Error(`--rounds ${f.rounds}: allowed an integer >= 0`));
      if (!Number.isInteger(innerSteps) || innerSteps < 1) fail(new Error(`--H ${f.H}: allowed an integer >= 1`));
      const dir = f.dir ?? mkdtempSync(join(tmpdir(), 'magnet-testnet-'));
      const print = (l: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`);
      const net = new ProcessTestnet({
        nodes,
        dir,
        preset: f.preset,
        rounds,
        innerSteps,
        print,
        ...(f.ipfsApi ? { env: { MAGNET_IPFS_API: f.ipfsApi } } : {}),
      });
      const stopper = new AbortController();
      let stopping = false;
      const onSignal = () => {
        if (stopping) return;
        stopping = true;
        print('stopping every node…');
        stopper.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let code = 0;
      try {
        print(`starting ${nodes} nodes in ${dir} (preset ${f.preset}, H=${innerSteps}, rounds ${rounds || 'until Ctrl-C'})`);
        await net.start();
        const summary = await watchTestnet(net.nodes, rounds, print, stopper.signal);
        const same = new Set(summary.finalHashes).size === 1;
        print(
          `${rounds} rounds done; final checkpoint ${same ? `identical on every node: ${summary.finalHashes[0]}` : `DIFFERS: ${summary.finalHashes.join(' ')}`}`,
        );
        code = same ? 0 : 1;
      } catch (err) {
        if (!stopper.signal.aborted) {
          process.stderr.write(`magnet-node testnet: ${(err as Error).message}\n`);
          code = 1;
        }
      } finally {
        await net.stop();
      }
      process.exit(code);
    });
}
