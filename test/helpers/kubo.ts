import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The kubo that test/setup/kubo.sh builds (override with MAGNET_KUBO_BIN). */
export const KUBO_BIN = process.env['MAGNET_KUBO_BIN'] ?? fileURLToPath(new URL('../../../.tools/bin/ipfs', import.meta.url));

export function kuboAvailable(): boolean {
  return existsSync(KUBO_BIN);
}

export interface RunningKubo {
  ipfsPath: string;
  /** The API multiaddr kubo wrote to $IPFS_PATH/api. */
  apiMultiaddr: string;
  /** http://127.0.0.1:PORT (what --ipfs-api / MAGNET_IPFS_API take). */
  apiUrl: string;
  proc: ChildProcess;
  output(): string;
  /** SIGTERM and wait; the repo is kept so `restart` brings kubo back on the same API port. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops kubo and deletes its repo. */
  destroy(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts kubo offline on loopback: `ipfs init --profile test` in a temp IPFS_PATH (no bootstrap, no mDNS, no
 * AutoTLS), fixed free API and gateway ports on 127.0.0.1 (so a restart comes back at the same address), swarm
 * on a random loopback port, then `ipfs daemon --offline`; ready when the repo's `api` file names the API and
 * it answers.
 */
export async function startKubo(opts: { readyTimeoutMs?: number } = {}): Promise<RunningKubo> {
  if (!kuboAvailable()) throw new Error(`kubo is not built at ${KUBO_BIN}: run bash test/setup/kubo.sh`);
  const ipfsPath = mkdtempSync(join(tmpdir(), 'magnet-kubo-'));
  const env = { ...process.env, IPFS_PATH: ipfsPath };
  await run(KUBO_BIN, ['init', '--profile', 'test', '--empty-repo'], { env });
  const set = (key: string, value: string) => run(KUBO_BIN, ['config', '--json', key, value], { env });
  // Two distinct free ports (two asks in a row may get the same one back), chosen again if one is taken by the time
  // kubo binds it.
  let apiPort = 0;
  const choosePorts = async (): Promise<void> => {
    apiPort = await freePort();
    let gwPort = await freePort();
    while (gwPort === apiPort) gwPort = await freePort();
    await set('Addresses.API', JSON.stringify(`/ip4/127.0.0.1/tcp/${apiPort}`));
    await set('Addresses.Gateway', JSON.stringify(`/ip4/127.0.0.1/tcp/${gwPort}`));
  };
  await choosePorts();
  await set('Addresses.Swarm', JSON.stringify(['/ip4/127.0.0.1/tcp/0']));

  let proc!: ChildProcess;
  let out = '';
  const launch = async (): Promise<string> => {
    rmSync(join(ipfsPath, 'api'), { force: true });
    proc = spawn(KUBO_BIN, ['daemon', '--offline'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`kubo exited with ${proc.exitCode}:\n${out}`);
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`kubo not ready in time:\n${out}`);
      }
      const apiFile = join(ipfsPath, 'api');
      if (existsSync(apiFile)) {
        const addr = readFileSync(apiFile, 'utf8').trim();
        const m = /\/tcp\/(\d+)/.exec(addr);
        if (m) {
          const ok = await fetch(`http://127.0.0.1:${m[1]}/api/v0/version`, { method: 'POST' }).then(
            (r) => r.ok,
            () => false,
          );
          if (ok) return addr;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  let apiMultiaddr: string | undefined;
  for (let attempt = 1; apiMultiaddr === undefined; attempt++) {
    try {
      apiMultiaddr = await launch();
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
      out = '';
      await choosePorts();
    }
  }
  return {
    ipfsPath,
    apiMultiaddr,
    apiUrl: `http://127.0.0.1:${apiPort}`,
    get proc() {
      return proc;
    },
    output: () => out,
    stop,
    async restart() {
      await stop();
      await launch();
    },
    async destroy() {
      await stop();
      rmSync(ipfsPath, { recursive: true, force: true });
    },
  };
}
