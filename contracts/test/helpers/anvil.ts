import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { HDNodeWallet, Mnemonic, type JsonRpcProvider } from 'ethers';
import { makeProvider } from '../../../daemon/src/chain/provider.js';

const require = createRequire(import.meta.url);

/** Dev mnemonic of anvil: its keys are public, loopback tests only. */
export const DEV_MNEMONIC = 'test test test test test test test test test test test junk';

export function anvilBinary(): string {
  const pkg = require.resolve('@foundry-rs/anvil-linux-amd64/package.json');
  return join(dirname(pkg), 'bin', 'anvil');
}

export interface Anvil {
  url: string;
  port: number;
  provider: JsonRpcProvider;
  /** Funded dev keys (index 0 = deployer). */
  keys: string[];
  stop(): Promise<void>;
}

/** Starts anvil on 127.0.0.1 with a port the OS picks (read from its "Listening on" line); cancun pinned. */
export async function startAnvil(opts: { accounts?: number; blockGasLimit?: bigint } = {}): Promise<Anvil> {
  const accounts = opts.accounts ?? 20;
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--hardfork',
    'cancun',
    '--accounts',
    String(accounts),
    '--balance',
    '1000000',
    '--mnemonic',
    DEV_MNEMONIC,
  ];
  if (opts.blockGasLimit) args.push('--gas-limit', opts.blockGasLimit.toString());
  const child: ChildProcess = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`anvil did not start within 20 s: ${buf.slice(-500)}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr!.on('data', (d: Buffer) => (buf += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`anvil exited with ${code}: ${buf.slice(-500)}`));
    });
  });
  child.stdout!.resume();
  const url = `http://127.0.0.1:${port}`;
  const provider = makeProvider(url, 31337n);
  const mn = Mnemonic.fromPhrase(DEV_MNEMONIC);
  const keys = Array.from({ length: accounts }, (_, i) => HDNodeWallet.fromMnemonic(mn, `m/44'/60'/0'/0/${i}`).privateKey);
  return {
    url,
    port,
    provider,
    keys,
    async stop() {
      provider.destroy();
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Moves chain time forward by `seconds` and mines a block. */
export async function increaseTime(provider: JsonRpcProvider, seconds: bigint | number): Promise<void> {
  await provider.send('evm_increaseTime', [Number(seconds)]);
  await provider.send('evm_mine', []);
}

/** Sets the next block's timestamp and mines it. */
export async function mineAt(provider: JsonRpcProvider, timestamp: bigint | number): Promise<void> {
  await provider.send('evm_mine', [Number(timestamp)]);
}

export async function now(provider: JsonRpcProvider): Promise<bigint> {
  const b = await provider.getBlock('latest');
  return BigInt(b!.timestamp);
}

export async function snapshot(provider: JsonRpcProvider): Promise<string> {
  return (await provider.send('evm_snapshot', [])) as string;
}

export async function revert(provider: JsonRpcProvider, id: string): Promise<void> {
  const ok = (await provider.send('evm_revert', [id])) as boolean;
  if (!ok) throw new Error(`evm_revert ${id} failed`);
}
