import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { HDNodeWallet, Mnemonic, Wallet, formatEther, getAddress, parseEther } from 'ethers';
import { MagnetError } from '../util/errors.js';
import { ensureArtifacts } from './artifacts.js';
import { loadChainParams, type ChainParams } from './chain-params.js';
import { deployAll, writeDeployment, type Deployment } from './deploy.js';
import { makeProvider } from './provider.js';
import { REPO_ROOT } from '../version.js';

const require = createRequire(import.meta.url);

/** anvil's development mnemonic: its keys are public, for loopback testnets only. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';

/** The anvil binary shipped in the npm package @foundry-rs/anvil (platform sub-package). */
export function anvilBinary(): string {
  for (const pkg of [
    '@foundry-rs/anvil-linux-amd64',
    '@foundry-rs/anvil-linux-arm64',
    '@foundry-rs/anvil-darwin-arm64',
    '@foundry-rs/anvil-darwin-amd64',
  ]) {
    try {
      return join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', 'anvil');
    } catch {
      // not this platform
    }
  }
  throw new MagnetError('ERR_NO_ANVIL', 'anvil is not installed: `npm install` installs @foundry-rs/anvil (a devDependency)');
}

/** Testnet windows: 60 s epochs; a claim settles about two minutes after its epoch starts; a heavy slash waits a minute. */
export function fastParams(p: ChainParams): ChainParams {
  return {
    ...p,
    epochLength: 60n,
    commitWindow: 60n,
    revealWindow: 30n,
    challengeWindow: 30n,
    adjudicationTimeout: 60n,
    unbondingDelay: 240n,
    timelockDelay: 60n,
    slashDelay: 60n,
  };
}

export interface LocalChain {
  rpc: string;
  deploymentFile: string;
  deployment: Deployment;
  /** Environment for every node of the testnet: chain, deployment, self-registration with a 1-coin bond, fast loop, Merkle settlement, notary. */
  env: Record<string, string>;
  /** Sends `eth` native coin from the dev faucet to each address (node wallets pay gas and bonds). */
  fund(addresses: string[], eth?: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts anvil on 127.0.0.1 (a port the OS picks), deploys the contracts with testnet windows from dev key #0
 * and writes `dir/deployment.json`. For `magnet-node testnet --chain`.
 */
export async function startLocalChain(dir: string, o: { fast?: boolean } = {}): Promise<LocalChain> {
  await ensureArtifacts();
  const child: ChildProcess = spawn(
    anvilBinary(),
    ['--host', '127.0.0.1', '--port', '0', '--hardfork', 'cancun', '--mnemonic', DEV_MNEMONIC],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new MagnetError('ERR_ANVIL', `anvil did not start within 20 s: ${buf.slice(-300)}`)), 20_000);
      const onData = (d: Buffer) => {
        buf += d.toString();
        const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(buf);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new MagnetError('ERR_ANVIL', `anvil exited with ${code}: ${buf.slice(-300)}`)));
    });
  } catch (err) {
    child.kill('SIGTERM');
    throw err;
  }
  child.stdout!.resume();
  child.stderr!.resume();
  const rpc = `http://127.0.0.1:${port}`;
  const provider = makeProvider(rpc, 31337n);
  const faucet = new Wallet(HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), "m/44'/60'/0'/0/0").privateKey, provider);
  const stop = async () => {
    provider.destroy();
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    let p = loadChainParams(join(REPO_ROOT, 'config', 'reward-config.json'));
    if (o.fast !== false) p = fastParams(p);
    const deployment = await deployAll(faucet, p);
    const deploymentFile = join(dir, 'deployment.json');
    writeDeployment(deploymentFile, deployment);
    return {
      rpc,
      deploymentFile,
      deployment,
      env: {
        MAGNET_CHAIN_RPC: rpc,
        MAGNET_CHAIN_DEPLOYMENT: deploymentFile,
        MAGNET_CHAIN_REGISTER_BOND: '1',
        MAGNET_CHAIN_POLL_MS: '1000',
        // Epochs settle by one Merkle root that every node checks; each node also sits on the notary panel.
        MAGNET_CHAIN_SETTLEMENT: 'merkle',
        MAGNET_CHAIN_NOTARY_BOND: formatEther(p.minNotaryBond),
      },
      async fund(addresses, eth = '10') {
        for (const a of addresses) await (await faucet.sendTransaction({ to: getAddress(a), value: parseEther(eth) })).wait();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
