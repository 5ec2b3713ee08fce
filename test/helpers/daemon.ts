import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type DaemonEndpoint, adminFetch } from '../../daemon/src/api/daemon-endpoint.js';
import { loopbackStartArgs, waitReady } from '../../daemon/src/testnet/testnet.js';

/** `start` flags for a daemon on loopback with free ports and mDNS off (later flags override them). */
export { loopbackStartArgs };
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Keystore } from '../../daemon/src/identity/keystore.js';
import { HomeDir } from '../../daemon/src/node/home.js';

const TEST_PASSPHRASE = 'test-passphrase';

/** The compiled CLI (tests run from dist/test/...). */
export const CLI = fileURLToPath(new URL('../../daemon/src/cli/main.js', import.meta.url));
/** The compiled adversary tool (a real node with its honest behaviour bypassed). */
export const ADVERSARY = fileURLToPath(new URL('../../daemon/src/adversary/main.js', import.meta.url));

const homes: string[] = [];
// Daemon homes hold checkpoints and shards (GBs over a suite): removed when the test process exits, unless
// MAGNET_KEEP_TEST_HOMES=1 keeps them for a post-mortem.
process.once('exit', () => {
  if (process.env['MAGNET_KEEP_TEST_HOMES'] === '1') return;
  for (const dir of homes) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a child still writing there; the OS temp cleaner gets it
    }
  }
});

/** A node home whose wallet exists before the daemon starts: tests know its nodeId and list it as a member. */
export interface PreparedHome {
  home: string;
  nodeId: string;
  address: string;
}

/** `n` homes with their keystores made (passphrase of testEnv), so the members can be listed before any start. */
export async function prepareHomes(n: number, prefix = 'magnet-test-'): Promise<PreparedHome[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const home = tempHome(prefix);
      const id = await new Keystore(new HomeDir(home).keystore).create(TEST_PASSPHRASE);
      return { home, nodeId: id.nodeId, address: id.address };
    }),
  );
}

/** A home holding this private key (a test that signs as the node itself, as an accomplice would). */
export async function prepareHomeWithKey(privateKey: string, prefix = 'magnet-test-'): Promise<PreparedHome> {
  const home = tempHome(prefix);
  const id = await new Keystore(new HomeDir(home).keystore).create(TEST_PASSPHRASE, privateKey);
  return { home, nodeId: id.nodeId, address: id.address };
}

/** The `start` flag that makes these homes the network's members. */
export function membersArgs(homes: readonly { nodeId: string }[]): string[] {
  return ['--members', homes.map((h) => h.nodeId).join(',')];
}

/** A fresh directory under the OS temp dir, removed when the test process exits. */
export function tempHome(prefix = 'magnet-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  homes.push(dir);
  return dir;
}

/**
 * Environment for test daemons: a fixed passphrase, loopback only, quick SSD test, thresholds low enough for CI disks,
 * and no DiLoCo rounds (they start trainer subprocesses; the round tests turn them on).
 */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    MAGNET_PASSPHRASE: TEST_PASSPHRASE,
    MAGNET_MDNS: 'false',
    MAGNET_SSD_MIN_READ_MBPS: '0',
    MAGNET_SSD_MIN_WRITE_MBPS: '0',
    MAGNET_SSD_RUNS: '1', // one pass is enough where the floors are 0; the median of three is unit-tested
    MAGNET_DILOCO: 'false',
    ...extra,
  };
}

export interface RunningDaemon {
  home: string;
  /** Admin listener base URL: every call there needs the token (use `fetch` or `get`, which add it). */
  url: string;
  /** Public listener base URL (/v1, /healthz, /readyz). */
  apiUrl: string;
  /** Both listeners and the admin token. */
  endpoint: DaemonEndpoint;
  proc: ChildProcess;
  /** fetch() against the admin listener with the admin token. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Everything the daemon printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait for the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL (a crash). */
  kill(): Promise<void>;
  get<T = unknown>(path: string): Promise<T>;
}

/**
 * Starts `magnet-node start` as a child process on loopback with free ports and waits until /readyz answers.
 */
export async function startDaemon(
  opts: { home?: string; args?: string[]; env?: NodeJS.ProcessEnv; readyTimeoutMs?: number; entry?: string[] } = {},
): Promise<RunningDaemon> {
  const home = opts.home ?? tempHome();
  // `entry` replaces `magnet-node start` (the adversary tool takes the same flags after its own).
  const head = opts.entry ? [...opts.entry, ...loopbackStartArgs(home).slice(1)] : [CLI, ...loopbackStartArgs(home)];
  const args = [...head, '--log-level', 'debug', ...(opts.args ?? [])];
  const proc = spawn(process.execPath, args, { env: opts.env ?? testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let endpoint: DaemonEndpoint;
  try {
    endpoint = await waitReady(home, proc, opts.readyTimeoutMs ?? 60_000);
  } catch (err) {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${out}`, { cause: err });
  }
  return {
    home,
    url: endpoint.admin,
    apiUrl: endpoint.api,
    endpoint,
    proc,
    fetch: (path, init) => adminFetch(endpoint, path, init),
    output: () => out,
    async stop(timeoutMs = 15_000) {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (proc.exitCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
    async get<T>(path: string): Promise<T> {
      const res = await adminFetch(endpoint, path);
      if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
      return (await res.json()) as T;
    },
  };
}

/** Polls `check` until it returns a truthy value or the timeout passes. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A process's resident memory now and at its peak since the last `resetPeak` (Linux: /proc/<pid>/status VmRSS, VmHWM),
 * in bytes: how a test checks that a transfer stays within a memory bound without sampling.
 */
export function residentMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Resets the process's peak resident memory (VmHWM) to its current RSS (writing 5 to clear_refs; needs the same user or root). */
export function resetPeakMemory(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
