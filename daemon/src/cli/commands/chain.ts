import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { Wallet, formatEther, isAddress, parseEther, type Contract, type JsonRpcProvider } from 'ethers';
import { checkedKey } from '../../identity/keystore.js';
import { createLogger } from '../../log/logger.js';
import { HomeDir } from '../../node/home.js';
import { unlockOrCreateIdentity } from '../../node/identity-setup.js';
import { TIERS, type Tier } from '../../profile/reward-config.js';
import { ensureArtifacts } from '../../chain/artifacts.js';
import { formatRewards, type RewardsView } from '../../chain/rewards-view.js';
import { loadChainParams, tierIndex } from '../../chain/chain-params.js';
import { attach, deployAll, readDeployment, writeDeployment, type Deployment } from '../../chain/deploy.js';
import { withdrawAll } from '../../chain/withdrawals.js';
import { fastParams } from '../../chain/local-chain.js';
import { readClaims } from '../../chain/offline.js';
import { makeProvider } from '../../chain/provider.js';
import { MagnetError, isMagnetError } from '../../util/errors.js';
import { REPO_ROOT } from '../../version.js';
import { callDaemon } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

const HOME_HELP = 'data directory of the node (default ~/.magnet, env MAGNET_HOME)';

interface ChainFlags {
  home?: string;
  rpc?: string;
  deployment?: string;
}

function rpcOf(flags: ChainFlags): string {
  const rpc = flags.rpc ?? process.env.MAGNET_CHAIN_RPC ?? '';
  if (!/^https?:\/\/.+/.test(rpc))
    throw new MagnetError(
      'ERR_CHAIN_NOT_CONFIGURED',
      `chain RPC ${JSON.stringify(rpc)} is not an http(s) URL: pass --rpc URL or set MAGNET_CHAIN_RPC`,
    );
  return rpc;
}

function deploymentOf(flags: ChainFlags): string {
  const d = flags.deployment ?? process.env.MAGNET_CHAIN_DEPLOYMENT ?? '';
  if (!d)
    throw new MagnetError(
      'ERR_CHAIN_NOT_CONFIGURED',
      'no deployment file: pass --deployment FILE or set MAGNET_CHAIN_DEPLOYMENT (written by `magnet-node chain deploy --out FILE`)',
    );
  return d;
}

/** The node's wallet on the configured chain, with the deployed contracts. */
async function nodeChain(
  flags: ChainFlags,
): Promise<{ wallet: Wallet; c: ReturnType<typeof attach>; nodeId: string; d: Deployment; provider: JsonRpcProvider }> {
  const home = new HomeDir(resolveHome(flags.home));
  const d = readDeployment(deploymentOf(flags));
  await ensureArtifacts();
  const provider = makeProvider(rpcOf(flags), BigInt(d.chainId));
  const identity = await unlockOrCreateIdentity(home, process.env, createLogger('warn'));
  const wallet = identity.wallet.connect(provider) as Wallet;
  return { wallet, c: attach(d, wallet), nodeId: identity.nodeId, d, provider };
}

async function sendTx(c: Contract, fn: string, ...args: unknown[]): Promise<string> {
  const tx = await c.getFunction(fn)(...args);
  const r = await tx.wait();
  return `${tx.hash as string} (block ${r.blockNumber}, gas ${r.gasUsed})`;
}

export function registerChainCommands(program: Command): void {
  const chain = program
    .command('chain')
    .description('on-chain contribution claims: deploy the contracts, register this node, withdraw rewards');

  chain
    .command('deploy')
    .description('deploy Params, NodeRegistry, ContributionLedger (+ MagnetToken) and NotaryPanel and write a deployment file')
    .option('--rpc <url>', 'JSON-RPC URL of the chain (env MAGNET_CHAIN_RPC)')
    .option('--out <file>', 'deployment file to write (env MAGNET_CHAIN_DEPLOYMENT)')
    .option(
      '--key-file <file>',
      "file holding the funded deployer's hex private key, '-' for stdin (or env MAGNET_DEPLOYER_KEY; default: the node wallet of --home). Never on the command line, where ps shows it",
    )
    .option('--home <dir>', HOME_HELP)
    .option('--params <file>', 'reward config with the "chain" section', join(REPO_ROOT, 'config', 'reward-config.json'))
    .option('--fast', 'testnet windows: 60 s epochs, 30 s reveal and challenge windows')
    .option(
      '--proposer <address>',
      'who may schedule parameter changes in the timelock (a multisig on a public chain; default: the deployer)',
    )
    .action(async (flags: ChainFlags & { out?: string; keyFile?: string; params: string; fast?: boolean; proposer?: string }) => {
      try {
        const out = resolve(flags.out ?? process.env.MAGNET_CHAIN_DEPLOYMENT ?? 'deployment.json');
        const provider = makeProvider(rpcOf(flags));
        const key = flags.keyFile ? readFileSync(flags.keyFile === '-' ? 0 : flags.keyFile, 'utf8') : process.env.MAGNET_DEPLOYER_KEY;
        const signer = key
          ? new Wallet(checkedKey(key), provider)
          : ((await unlockOrCreateIdentity(new HomeDir(resolveHome(flags.home)), process.env, createLogger('warn'))).wallet.connect(
              provider,
            ) as Wallet);
        let p = loadChainParams(flags.params);
        if (flags.fast) p = fastParams(p);
        await ensureArtifacts();
        if (flags.proposer !== undefined && !isAddress(flags.proposer))
          throw new Error(`--proposer ${JSON.stringify(flags.proposer)} is not an address`);
        const d = await deployAll(signer, p, undefined, { proposer: flags.proposer });
        writeDeployment(out, d);
        process.stdout.write(
          `deployed on chain ${d.chainId} at block ${d.block}: ledger ${d.addresses.ledger}, registry ${d.addresses.registry}, panel ${d.addresses.panel}, token ${d.addresses.token}\nwrote ${out}\n`,
        );
      } catch (err) {
        fail(err);
      }
    });

  chain
    .command('register')
    .description('register this node (wallet, nodeId, public key, tier) with a bond in the native coin')
    .requiredOption('--bond <amount>', 'bond in whole native coin (e.g. 1)')
    .option('--tier <tier>', `declared tier: ${TIERS.join('|')} (default: the running daemon's tier)`)
    .option('--rpc <url>', 'JSON-RPC URL (env MAGNET_CHAIN_RPC)')
    .option('--deployment <file>', 'deployment file (env MAGNET_CHAIN_DEPLOYMENT)')
    .option('--home <dir>', HOME_HELP)
    .action(async (flags: ChainFlags & { bond: string; tier?: string }) => {
      try {
        let bond: bigint;
        try {
          bond = parseEther(flags.bond);
        } catch {
          throw new MagnetError(
            'ERR_BAD_AMOUNT',
            `--bond ${JSON.stringify(flags.bond)} is not an amount (a decimal number of whole coins, e.g. 1 or 0.5)`,
          );
        }
        let tier = flags.tier as Tier | undefined;
        if (!tier) {
          try {
            tier = (await callDaemon<{ tier?: { tier?: Tier } | Tier }>(resolveHome(flags.home), '/status').then((s) =>
              typeof s.tier === 'string' ? s.tier : s.tier?.tier,
            )) as Tier;
          } catch (err) {
            if (!isMagnetError(err, 'ERR_NO_DAEMON')) throw err;
          }
        }
        if (!tier || !TIERS.includes(tier))
          throw new MagnetError(
            'ERR_BAD_TIER',
            `tier ${JSON.stringify(tier ?? null)}: pass --tier ${TIERS.join('|')} (or start the daemon so its tier is used)`,
          );
        const { wallet, c, nodeId } = await nodeChain(flags);
        if (await c.registry.getFunction('isRegistered')(wallet.address)) {
          process.stdout.write(`${nodeId} (${wallet.address}) is already registered\n`);
          return;
        }
        const publicKey = '0x' + wallet.signingKey.publicKey.slice(4);
        const nodeIdBytes = '0x' + nodeId.slice('node-'.length);
        const tx = await sendTx(c.registry, 'register', publicKey, nodeIdBytes, tierIndex(tier), { value: bond });
        process.stdout.write(`registered ${nodeId} (${wallet.address}) as ${tier} with a bond of ${flags.bond}: tx ${tx}\n`);
      } catch (err) {
        fail(err);
      }
    });

  chain
    .command('withdraw')
    .description('withdraw every settled reward of this node, by the claim loop and by Merkle proof (MAG tokens to the node wallet)')
    .option('--rpc <url>', 'JSON-RPC URL (env MAGNET_CHAIN_RPC)')
    .option('--deployment <file>', 'deployment file (env MAGNET_CHAIN_DEPLOYMENT)')
    .option('--home <dir>', HOME_HELP)
    .action(async (flags: ChainFlags) => {
      try {
        const { wallet, c, d, provider } = await nodeChain(flags);
        const w = await withdrawAll({ provider, wallet, c, d, chainId: BigInt(d.chainId) });
        process.stdout.write(
          `withdrew ${formatEther(w.owed + w.byProof)} MAG to ${wallet.address} (${formatEther(w.owed)} settled by the claim loop, ${formatEther(w.byProof)} by Merkle proof): tx ${w.txs.join(', ')}\n`,
        );
      } catch (err) {
        fail(err);
      }
    });

  program
    .command('claims')
    .description("this node's contribution claims (queued, committed, revealed, paid, ...)")
    .option('--home <dir>', HOME_HELP)
    .option('--json', 'print JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const home = resolveHome(flags.home);
        let rows: {
          epoch: string;
          round: number;
          state: string;
          route?: string;
          reward: string | null;
          attempts: number;
          lastError: string | null;
        }[];
        let status: Record<string, unknown> | undefined;
        try {
          const r = await callDaemon<{ claims: typeof rows; status: Record<string, unknown> }>(home, '/chain/claims');
          rows = r.claims;
          status = r.status;
        } catch (err) {
          if (!isMagnetError(err, 'ERR_NO_DAEMON')) throw err;
          rows = readClaims(new HomeDir(home).database);
        }
        if (flags.json) return printJson({ status: status ?? null, claims: rows });
        if (status && status.configured === false) process.stdout.write('chain not configured: claims wait in the queue\n');
        if (rows.length === 0) return void process.stdout.write('no claims\n');
        for (const r of rows) {
          const reward = r.reward ? `${formatEther(BigInt(r.reward))} MAG` : '-';
          process.stdout.write(
            `epoch ${r.epoch.padStart(8)}  round ${String(r.round).padStart(5)}  ${r.state.padEnd(9)}  by ${(r.route ?? 'receipt').padEnd(7)}  reward ${reward}${r.lastError ? `  (${r.attempts} failed attempts: ${r.lastError})` : ''}\n`,
          );
        }
      } catch (err) {
        fail(err);
      }
    });

  program
    .command('rewards')
    .description('rewards of this node: owed on chain, withdrawn token balance, per-claim rewards and estimates')
    .option('--home <dir>', HOME_HELP)
    .option('--json', 'print JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const r = await callDaemon<RewardsView>(resolveHome(flags.home), '/chain/rewards');
        if (flags.json) return printJson(r);
        process.stdout.write(formatRewards(r).join('\n') + '\n');
      } catch (err) {
        fail(err);
      }
    });
}
