import type { Command } from 'commander';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalChain, type LocalChain } from '../../chain/local-chain.js';
import { ADVERSARY_KINDS, isAdversaryKind } from '../../testnet/adversary-kinds.js';
import { claimPrinter, registerOnChain, settleClaims } from '../../testnet/chain-testnet.js';
import { watchTestnet } from '../../testnet/progress.js';
import { ProcessTestnet } from '../../testnet/testnet.js';
import { adversarySummary } from '../../testnet/adversary-summary.js';
import { fail } from '../output.js';

interface Flags {
  nodes: string;
  dir?: string;
  preset: string;
  rounds: string;
  H: string;
  ipfsApi?: string;
  chain?: boolean;
  adversary?: string;
  network?: string;
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
    .option(
      '--network <file>',
      'a network spec (`magnet-node network init`) every node starts with; its preset and H replace --preset and --H',
    )
    .option('--ipfs-api <url>', "kubo RPC API every node pins shards to (default: each node's embedded store)")
    .option(
      '--chain',
      'also start a local EVM chain (anvil on loopback), deploy the contracts with 60 s epochs, fund and register every node, and wait for the claims to settle',
    )
    .option(
      '--adversary <kind>',
      `run the last node as an attacker that is a member of the network: ${Object.keys(ADVERSARY_KINDS).join(', ')}; the others must still finish their rounds on identical checkpoints`,
    )
    .action(async (f: Flags) => {
      const nodes = Number(f.nodes);
      const rounds = Number(f.rounds);
      const innerSteps = Number(f.H);
      if (!Number.isInteger(nodes) || nodes < 1 || nodes > 32) fail(new Error(`--nodes ${f.nodes}: allowed an integer in 1..32`));
      if (!Number.isInteger(rounds) || rounds < 0) fail(new Error(`--rounds ${f.rounds}: allowed an integer >= 0`));
      if (!Number.isInteger(innerSteps) || innerSteps < 1) fail(new Error(`--H ${f.H}: allowed an integer >= 1`));
      if (f.adversary !== undefined && !isAdversaryKind(f.adversary))
        fail(new Error(`--adversary ${f.adversary}: allowed ${Object.keys(ADVERSARY_KINDS).join(', ')}`));
      if (f.network !== undefined && !existsSync(f.network)) fail(new Error(`--network ${f.network}: no such spec file`));
      if (f.adversary !== undefined && nodes < 2) fail(new Error('--adversary needs --nodes 2 or more (the last node is the attacker)'));
      const dir = f.dir ?? mkdtempSync(join(tmpdir(), 'magnet-testnet-'));
      mkdirSync(dir, { recursive: true });
      const print = (l: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`);
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
      let chain: LocalChain | undefined;
      let net: ProcessTestnet | undefined;
      try {
        if (f.chain) {
          chain = await startLocalChain(dir);
          print(`local chain at ${chain.rpc} (anvil, chain id ${chain.deployment.chainId}); contracts deployed, ${chain.deploymentFile}`);
        }
        const withChain = chain;
        net = new ProcessTestnet({
          nodes,
          dir,
          preset: f.preset,
          rounds,
          innerSteps,
          print,
          env: {
            ...(f.ipfsApi ? { MAGNET_IPFS_API: f.ipfsApi } : {}),
            ...withChain?.env,
            // With an attacker, a stalled round is given up on in minutes, not in the CPU-friendly two hours.
            ...(f.adversary
              ? {
                  MAGNET_ROUND_TIMEOUT: process.env['MAGNET_ROUND_TIMEOUT'] ?? '300',
                  MAGNET_ANNOUNCE_GRACE: process.env['MAGNET_ANNOUNCE_GRACE'] ?? '15',
                }
              : {}),
            ...(withChain ? { MAGNET_MEMBERS_REFRESH: '2' } : {}),
          },
          ...(f.adversary ? { adversary: f.adversary } : {}),
          ...(f.network ? { network: f.network } : {}),
        });
        print(
          `starting ${nodes} nodes in ${dir} (${f.network ? `spec ${f.network}` : `preset ${f.preset}, H=${innerSteps}`}, rounds ${rounds || 'until Ctrl-C'}${f.adversary ? `, node ${nodes} as the adversary ${f.adversary}` : ''})`,
        );
        const ids = await net.prepare();
        if (withChain) for (const [i, id] of ids.entries()) await registerOnChain(withChain, id, i + 1, print);
        await net.start();
        const honest = net.nodes.filter((n) => !n.hostile);
        const summary = await watchTestnet(honest, rounds, print, stopper.signal, chain ? claimPrinter(print) : undefined);
        const same = new Set(summary.finalHashes).size === 1;
        print(
          `${rounds} rounds done; final checkpoint ${same ? `identical on every ${f.adversary ? 'honest ' : ''}node: ${summary.finalHashes[0]}` : `DIFFERS: ${summary.finalHashes.join(' ')}`}`,
        );
        if (f.adversary) print(adversarySummary(net.nodes.find((n) => n.hostile)?.home));
        code = same ? 0 : 1;
        if (chain) {
          const paid = await settleClaims(net.nodes, print, stopper.signal);
          print(`${paid} claims settled and paid on chain`);
        }
      } catch (err) {
        if (!stopper.signal.aborted) {
          process.stderr.write(`magnet-node testnet: ${(err as Error).message}\n`);
          code = 1;
        }
      } finally {
        await net?.stop();
        await chain?.stop();
      }
      process.exit(code);
    });
}
