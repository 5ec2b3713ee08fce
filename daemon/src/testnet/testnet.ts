import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DaemonEndpoint, adminFetch, readDaemonEndpoint } from '../api/daemon-endpoint.js';
import type { NodeIdentity } from '../identity/identity.js';
import { Keystore } from '../identity/keystore.js';
import { HomeDir } from '../node/home.js';
import { loadConfig } from '../config/load.js';
import type { Field } from '../config/schema.js';
import { type JoinedNetwork, describeNetwork, fixedLayer, resolveNetwork } from '../network/joined.js';
import { specFromConfig } from '../network/spec.js';
import { configValue, nodeSchema } from '../node/node-config.js';
import { MagnetError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { REPO_ROOT } from '../version.js';

export interface TestnetOptions {
  nodes: number;
  dir: string;
  preset: string;
  rounds: number;
  innerSteps: number;
  /** Extra environment for every node (kubo, chain). */
  env?: NodeJS.ProcessEnv;
  /** Extra `start` flags for every node. */
  args?: string[];
  /** Runs once each node is ready, before the next one starts. */
  onNodeReady?: (node: TestnetNode) => Promise<void>;
  /** The last node runs as this kind of attacker (daemon/src/adversary); its report goes to its home. */
  adversary?: string;
  /**
   * A network spec file every node starts with. Default: one written to `<dir>/network.json` from these options and
   * the environment, listing every node as a member (without a chain).
   */
  network?: string;
  print: (line: string) => void;
}

export interface TestnetNode {
  index: number;
  home: string;
  proc: ChildProcess;
  /** Admin listener base URL (status, metrics); call it with adminFetch(node.endpoint, path). */
  url: string;
  /** Both listeners and the admin token, from the node's home. */
  endpoint: DaemonEndpoint;
  /** Started by the adversary tool. */
  hostile: boolean;
}

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const ADVERSARY = fileURLToPath(new URL('../adversary/main.js', import.meta.url));

/**
 * A local testnet of N daemons on loopback: distinct homes and free ports, all bootstrapped to the first,
 * mDNS off, CPU training on (these are laptops and CI machines), the SSD floor off.
 */
export class ProcessTestnet {
  readonly nodes: TestnetNode[] = [];
  /** nodeIds of every node (made by prepare()), the network's members. */
  members: string[] = [];
  /** The network every node joins (made by prepare()). */
  network: JoinedNetwork | undefined;
  /** The spec file every node starts with (`--network`). */
  specFile = '';

  constructor(private readonly o: TestnetOptions) {}

  /** Every node's environment. The variables of values the network spec fixes are left out: the spec decides them. */
  env(): NodeJS.ProcessEnv {
    const env = this.baseEnv();
    if (this.network) for (const key of Object.keys(fixedLayer(this.network, ''))) delete env[envOf(key) ?? ''];
    return env;
  }

  /** The environment the testnet's settings make, before a spec takes its values out. */
  private baseEnv(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      MAGNET_PASSPHRASE: process.env['MAGNET_PASSPHRASE'] || 'testnet-only',
      MAGNET_MDNS: 'false',
      MAGNET_CPU_TRAINING: 'true',
      MAGNET_SSD_MIN_READ_MBPS: '0',
      MAGNET_SSD_MIN_WRITE_MBPS: '0',
      MAGNET_PRESET: this.o.preset,
      MAGNET_INNER_STEPS: String(this.o.innerSteps),
      MAGNET_MAX_ROUNDS: String(this.o.rounds),
      // CPU rounds of the larger presets take far longer than a GPU's: a generous deadline unless one is given.
      MAGNET_ROUND_TIMEOUT: process.env['MAGNET_ROUND_TIMEOUT'] ?? '7200',
      ...(this.members.length > 0 ? { MAGNET_MEMBERS: this.members.join(',') } : {}),
      ...this.o.env,
    };
  }

  /**
   * Makes every node's wallet first (a node that already has one keeps it), so the member list is known before
   * any node starts: every testnet node is a member (with a chain, the registry decides instead).
   */
  async prepare(): Promise<NodeIdentity[]> {
    mkdirSync(this.o.dir, { recursive: true });
    const passphrase = this.env()['MAGNET_PASSPHRASE'] as string;
    const ids: NodeIdentity[] = [];
    for (let i = 1; i <= this.o.nodes; i++) {
      const home = new HomeDir(this.homeOf(i));
      home.ensure();
      const ks = new Keystore(home.keystore);
      ids.push(ks.exists() ? await ks.unlock(passphrase) : await ks.create(passphrase));
    }
    this.members = ids.map((id) => id.nodeId);
    this.network = this.o.network ? resolveNetwork(this.o.network, this.o.dir) : this.writeSpec();
    return ids;
  }

  /** The spec the testnet's settings describe, every node a member (with a chain, the registry decides instead). */
  private writeSpec(): JoinedNetwork {
    const config = loadConfig(nodeSchema, { repoDefaultsFile: join(REPO_ROOT, 'config', 'default.json'), env: this.baseEnv(), flags: {} });
    const withMembers = config.chain.rpc === '';
    const spec = specFromConfig((key) => configValue(config, key), { name: 'testnet', withMembers });
    if (withMembers) spec.data.assignment = 'members';
    const file = join(this.o.dir, 'network.json');
    writeFileAtomic(file, JSON.stringify(spec, null, 2) + '\n');
    return resolveNetwork(file, this.o.dir);
  }

  private homeOf(index: number): string {
    return resolve(join(this.o.dir, `node-${index}`));
  }

  async start(): Promise<void> {
    if (this.members.length === 0) await this.prepare();
    const n = this.network as JoinedNetwork;
    this.specFile = resolve(this.o.network ?? join(this.o.dir, 'network.json'));
    this.o.print(`network ${describeNetwork(n)}, spec ${this.specFile}`);
    const first = await this.startNode(1, []);
    const status = (await (await adminFetch(first.endpoint, '/status')).json()) as { listen?: { p2p?: string[] } };
    const bootstrap = (status.listen?.p2p ?? []).filter((a) => a.includes('/ip4/127.0.0.1/'));
    if (bootstrap.length === 0) throw new MagnetError('ERR_TESTNET', 'the first node shows no loopback libp2p address in /status');
    for (let i = 2; i <= this.o.nodes; i++) await this.startNode(i, ['--bootstrap', bootstrap.join(',')]);
  }

  private async startNode(index: number, extra: string[]): Promise<TestnetNode> {
    const home = this.homeOf(index);
    mkdirSync(home, { recursive: true });
    const log = createWriteStream(join(home, 'daemon.log'), { flags: 'a' });
    const hostile = this.o.adversary !== undefined && index === this.o.nodes;
    const head = hostile
      ? [ADVERSARY, '--kind', this.o.adversary as string, '--report', join(home, 'adversary.jsonl'), ...loopbackStartArgs(home).slice(1)]
      : [CLI, ...loopbackStartArgs(home)];
    const args = [...head, '--network', this.specFile, ...(this.o.args ?? []), ...extra];
    const proc = spawn(process.execPath, args, { env: this.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.pipe(log);
    proc.stderr?.pipe(log);
    const endpoint = await waitReady(home, proc, 120_000);
    const node = { index, home, proc, url: endpoint.admin, endpoint, hostile };
    this.nodes.push(node);
    this.o.print(
      `node ${index} ready at ${endpoint.api} (admin ${endpoint.admin}) (home ${home}, log ${join(home, 'daemon.log')})${hostile ? ` as the adversary: ${this.o.adversary}` : ''}`,
    );
    await this.o.onNodeReady?.(node);
    return node;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(
        (n) =>
          new Promise<void>((res) => {
            if (n.proc.exitCode !== null) return res();
            const timer = setTimeout(() => n.proc.kill('SIGKILL'), 20_000);
            n.proc.once('exit', () => {
              clearTimeout(timer);
              res();
            });
            n.proc.kill('SIGTERM');
          }),
      ),
    );
  }
}

/** The environment variable that sets a config key ("group.key"), if any. */
function envOf(key: string): string | undefined {
  const [g, k] = key.split('.') as [keyof typeof nodeSchema, string];
  return (nodeSchema[g] as Record<string, Field<unknown>> | undefined)?.[k]?.env;
}

/** `start` arguments for a daemon in `home` on loopback with ports the OS picks and mDNS off (testnets, tests). */
export function loopbackStartArgs(home: string): string[] {
  return [
    'start',
    '--home',
    home,
    '--api',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--grpc',
    '127.0.0.1:0',
    '--p2p',
    '/ip4/127.0.0.1/tcp/0',
    '--no-mdns',
  ];
}

/** Waits until the daemon `proc` started in `home` answers /readyz; returns where it listens and its admin token. */
export async function waitReady(home: string, proc: ChildProcess, timeoutMs: number): Promise<DaemonEndpoint> {
  const deadline = Date.now() + timeoutMs;
  const files = new HomeDir(home);
  while (Date.now() < deadline) {
    if (proc.exitCode !== null)
      throw new MagnetError('ERR_TESTNET', `a node exited with ${proc.exitCode} before it was ready; see ${join(home, 'daemon.log')}`);
    if (existsSync(files.apiFile)) {
      try {
        const ep = readDaemonEndpoint(files);
        if (ep.pid === proc.pid && (await fetch(`${ep.api}/readyz`)).ok) return ep;
      } catch {
        // not yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new MagnetError('ERR_TESTNET', `a node was not ready within ${timeoutMs / 1000}s; see ${join(home, 'daemon.log')}`);
}
