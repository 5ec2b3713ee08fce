import { execFile } from 'node:child_process';
import { mkdirSync, statfsSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readDeployment } from '../chain/deploy.js';
import { makeProvider } from '../chain/provider.js';
import { trainerPython } from '../diloco/trainer-runner.js';
import { type JoinedNetwork, describeNetwork } from '../network/joined.js';
import { detectNvidiaGpus } from '../profile/hardware.js';
import { loadRewardConfig, type Thresholds } from '../profile/reward-config.js';
import { runSsdTest } from '../profile/ssd-test.js';
import { kernelInfo } from '../serve/native.js';
import { errorMessage } from '../util/errors.js';
import { parseHostPort } from '../util/host-port.js';
import { REPO_ROOT } from '../version.js';
import type { NodeConfig } from './node-config.js';

const exec = promisify(execFile);

/** One finding of `magnet-node doctor`: what was checked, how it went, and what to do when it did not. */
export interface Finding {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

/** What the checks may be told about this machine's state beyond the config. */
export interface DoctorContext {
  /** This home's daemon answers: its own ports are in use by it, not by a stranger. */
  daemonRunning: boolean;
  env: NodeJS.ProcessEnv;
  /** The network `start` would join, or why its spec cannot be used. */
  network?: JoinedNetwork;
  networkError?: string;
}

/**
 * Everything a node needs before it joins, checked the way the daemon would use it: the listeners bind and answer
 * on loopback, the disk has room and passes the SSD test, the trainer's Python has torch, the native kernels load,
 * kubo and the chain answer when configured, and the network spec is valid. Each finding says what to do when it fails.
 */
export async function runDoctor(config: NodeConfig, ctx: DoctorContext): Promise<Finding[]> {
  const out: Finding[] = [];
  const listeners: [string, string, string, string][] = [
    ['port api', config.api.listen, '--api', 'MAGNET_API'],
    ['port admin', config.api.admin, '--admin', 'MAGNET_ADMIN'],
    ['port grpc', config.net.grpc, '--grpc', 'MAGNET_GRPC'],
    ['port p2p', tcpOfMultiaddr(config.net.p2p), '--p2p', 'MAGNET_P2P'],
  ];
  out.push(networkFinding(config, ctx));
  for (const [check, address, flag, env] of listeners) {
    if (check === 'port p2p' && address === config.net.p2p) {
      out.push({ check, status: 'warn', detail: `${address} is not a TCP multiaddr: not checked` });
      continue;
    }
    out.push(await portFinding(check, address, flag, env, ctx.daemonRunning));
  }
  const floors = loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), ctx.env).thresholds;
  out.push(diskFinding(config.node.home, floors));
  out.push(await ssdFinding(config.node.home, floors));
  out.push(await clockFinding(config));
  out.push(await torchFinding(config.diloco.python));
  out.push(gpuFinding());
  out.push(nativeFinding());
  if (config.storage.ipfsApi) out.push(await kuboFinding(config.storage.ipfsApi));
  if (config.chain.rpc && config.chain.deployment) out.push(await chainFinding(config.chain.rpc, config.chain.deployment));
  return out;
}

/** The network the node would join: its spec read and checked (or why not), or the implicit one of its settings. */
function networkFinding(config: NodeConfig, ctx: DoctorContext): Finding {
  const check = 'network';
  if (ctx.networkError)
    return {
      check,
      status: 'fail',
      detail: ctx.networkError,
      fix: `mend the spec (\`magnet-node network show ${config.node.network}\` checks it) or unset --network (MAGNET_NETWORK)`,
    };
  const n = ctx.network;
  if (!n || n.source === 'implicit')
    return {
      check,
      status: 'ok',
      detail: `no --network: ${n ? `the implicit network ${describeNetwork(n)} of this node's own round settings` : "this node's own round settings"}`,
    };
  const data = n.spec.data.source;
  return { check, status: 'ok', detail: `spec of network ${describeNetwork(n)} is valid (preset ${n.spec.model.preset}, data ${data})` };
}

/** "HOST:PORT" of a /ip4|ip6/HOST/tcp/PORT multiaddr (anything else is returned as it is, and reported). */
function tcpOfMultiaddr(ma: string): string {
  const m = /^\/ip([46])\/([^/]+)\/tcp\/(\d+)/.exec(ma);
  if (!m) return ma;
  return m[1] === '6' ? `[${m[2]}]:${m[3]}` : `${m[2]}:${m[3]}`;
}

async function portFinding(check: string, address: string, flag: string, env: string, daemonRunning: boolean): Promise<Finding> {
  let hp;
  try {
    hp = parseHostPort(address, check);
  } catch (err) {
    return { check, status: 'fail', detail: errorMessage(err), fix: `give ${flag} HOST:PORT (or ${env})` };
  }
  if (hp.port === 0) return { check, status: 'ok', detail: `${address}: the OS picks a free port at start` };
  const server = createServer();
  const bound = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    server.once('error', (err) => resolve(err));
    server.listen(hp.port, hp.host, () => resolve(undefined));
  });
  if (bound) {
    if (bound.code === 'EADDRINUSE' && daemonRunning)
      return { check, status: 'ok', detail: `${address} is held by this home's running daemon` };
    const why =
      bound.code === 'EADDRINUSE' ? 'is in use' : bound.code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : bound.message;
    const fix =
      bound.code === 'EADDRINUSE'
        ? `stop what holds it (\`ss -ltnp 'sport = :${hp.port}'\` names it) or choose another port with ${flag} (or ${env})`
        : bound.code === 'EACCES'
          ? `ports below 1024 need privileges: choose a higher one with ${flag} (or ${env})`
          : `choose an address of this machine with ${flag} (or ${env})`;
    return { check, status: 'fail', detail: `${address} ${why}`, fix };
  }
  // Reachable from loopback: what the CLI, the dashboard and a local testnet dial.
  const port = (server.address() as { port: number }).port;
  const dial = hp.host === '0.0.0.0' || hp.host === '' ? '127.0.0.1' : hp.host === '::' ? '::1' : hp.host;
  const reached = await new Promise<boolean>((resolve) => {
    const s = createConnection({ host: dial, port }, () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.setTimeout(2_000, () => {
      s.destroy();
      resolve(false);
    });
  });
  await new Promise((r) => server.close(r));
  if (!reached)
    return {
      check,
      status: 'fail',
      detail: `${address} binds but ${dial}:${port} does not answer`,
      fix: 'check the firewall rules for loopback',
    };
  return { check, status: 'ok', detail: `${address} is free and answers on ${dial}` };
}

const GIB = 1024 ** 3;

function diskFinding(home: string, floors: Thresholds): Finding {
  mkdirSync(home, { recursive: true });
  const s = statfsSync(home);
  const free = s.bavail * s.bsize;
  const detail = `${(free / GIB).toFixed(1)} GiB free under ${home}`;
  // A tiny round needs well under a GiB; a storage node holds others' shards (a genkidama checkpoint is ~3.4 GB a round).
  if (free < 2 * GIB) return { check: 'disk', status: 'fail', detail, fix: 'free space or point --home (MAGNET_HOME) at a larger disk' };
  if (free < floors.storageMinFreeGiB * GIB) {
    return {
      check: 'disk',
      status: 'warn',
      detail: `${detail}: below the storage tier's ${floors.storageMinFreeGiB} GiB`,
      fix: 'free space for the storage role, or run as a trainer or server only',
    };
  }
  return { check: 'disk', status: 'ok', detail };
}

async function ssdFinding(home: string, floors: Thresholds): Promise<Finding> {
  try {
    const r = await runSsdTest(home, 256, 4, 1);
    const detail = `read ${r.readMBps} MB/s, write ${r.writeMBps} MB/s (storage floors ${floors.ssdMinReadMBps} / ${floors.ssdMinWriteMBps})`;
    if (r.readMBps < floors.ssdMinReadMBps || r.writeMBps < floors.ssdMinWriteMBps) {
      return {
        check: 'ssd',
        status: 'warn',
        detail: `${detail}: below the storage tier`,
        fix: 'put --home on an SSD for the storage and server roles',
      };
    }
    return { check: 'ssd', status: 'ok', detail };
  } catch (err) {
    return { check: 'ssd', status: 'fail', detail: `the SSD test failed: ${errorMessage(err)}`, fix: `make ${home} writable` };
  }
}

async function clockFinding(config: NodeConfig): Promise<Finding> {
  // Against the chain when there is one: claim windows are judged by block time.
  if (config.chain.rpc && config.chain.deployment) {
    try {
      const d = readDeployment(config.chain.deployment);
      const provider = makeProvider(config.chain.rpc, BigInt(d.chainId));
      try {
        const block = await provider.getBlock('latest');
        const skew = Math.round(Date.now() / 1000 - (block?.timestamp ?? 0));
        if (Math.abs(skew) > 120) {
          return {
            check: 'clock',
            status: 'warn',
            detail: `${skew} s from the chain's latest block`,
            fix: 'sync the clock (NTP); claim windows follow block time',
          };
        }
        return { check: 'clock', status: 'ok', detail: `${skew} s from the chain's latest block` };
      } finally {
        provider.destroy();
      }
    } catch {
      // the chain finding names the problem
    }
  }
  try {
    const { stdout } = await exec('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 5_000 });
    if (stdout.trim() === 'yes') return { check: 'clock', status: 'ok', detail: 'synchronized (NTP)' };
    return {
      check: 'clock',
      status: 'warn',
      detail: 'not synchronized',
      fix: 'enable NTP (`timedatectl set-ntp true`): round deadlines are wall-clock times',
    };
  } catch {
    return {
      check: 'clock',
      status: 'ok',
      detail: 'not checked (no timedatectl here); keep it synchronized, round deadlines are wall-clock times',
    };
  }
}

async function torchFinding(configured: string): Promise<Finding> {
  let python: string;
  try {
    python = trainerPython(configured);
  } catch (err) {
    return { check: 'torch', status: 'fail', detail: errorMessage(err), fix: 'bash python/install.sh (or set MAGNET_PYTHON)' };
  }
  try {
    const code = 'import json, torch; print(json.dumps([torch.__version__, torch.cuda.is_available(), torch.cuda.device_count()]))';
    const { stdout } = await exec(python, ['-c', code], { timeout: 120_000 });
    const [version, cuda, devices] = JSON.parse(stdout.trim().split('\n').pop()!) as [string, boolean, number];
    return {
      check: 'torch',
      status: 'ok',
      detail: `torch ${version} in ${python}; CUDA ${cuda ? `yes, ${devices} device(s)` : 'no: trains on the CPU'}`,
    };
  } catch (err) {
    return { check: 'torch', status: 'fail', detail: `${python} cannot import torch: ${firstLine(err)}`, fix: 'bash python/install.sh' };
  }
}

function gpuFinding(): Finding {
  const gpus = detectNvidiaGpus();
  if (gpus.length === 0) return { check: 'gpus', status: 'ok', detail: 'none found (nvidia-smi): a CPU node' };
  return { check: 'gpus', status: 'ok', detail: gpus.map((g) => `${g.name} ${g.memoryGiB} GiB`).join(', ') };
}

function nativeFinding(): Finding {
  try {
    const k = kernelInfo();
    if (!k.kernel)
      return {
        check: 'native',
        status: 'fail',
        detail: `no kernel passed its self-test: ${k.error ?? k.available}`,
        fix: 'npm run build:native',
      };
    return { check: 'native', status: 'ok', detail: `kernel ${k.kernel} (self-tested; available: ${k.available})` };
  } catch (err) {
    return { check: 'native', status: 'fail', detail: `the native addon does not load: ${firstLine(err)}`, fix: 'npm run build:native' };
  }
}

async function kuboFinding(api: string): Promise<Finding> {
  const m = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(api);
  const url = m ? `http://${m[1]}:${m[2]}` : api.replace(/\/+$/, '');
  try {
    const res = await fetch(`${url}/api/v0/version`, { method: 'POST', signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const v = (await res.json()) as { Version?: string };
    return { check: 'kubo', status: 'ok', detail: `kubo ${v.Version ?? '?'} at ${url}` };
  } catch (err) {
    return {
      check: 'kubo',
      status: 'fail',
      detail: `kubo at ${url} does not answer: ${firstLine(err)}`,
      fix: 'start it (`ipfs daemon`), or unset MAGNET_IPFS_API (--ipfs-api) to keep shards in the embedded store',
    };
  }
}

async function chainFinding(rpc: string, deploymentFile: string): Promise<Finding> {
  let d;
  try {
    d = readDeployment(deploymentFile);
  } catch (err) {
    return {
      check: 'chain',
      status: 'fail',
      detail: firstLine(err),
      fix: 'point MAGNET_CHAIN_DEPLOYMENT at the file `magnet-node chain deploy` wrote',
    };
  }
  const provider = makeProvider(rpc, BigInt(d.chainId));
  try {
    const code = await provider.getCode(d.addresses.ledger);
    if (code === '0x') {
      return {
        check: 'chain',
        status: 'fail',
        detail: `no ledger at ${d.addresses.ledger} on ${rpc}`,
        fix: 'the deployment file belongs to another chain: deploy again or fix MAGNET_CHAIN_RPC',
      };
    }
    return { check: 'chain', status: 'ok', detail: `chain ${d.chainId} at ${rpc}, ledger ${d.addresses.ledger}` };
  } catch (err) {
    return {
      check: 'chain',
      status: 'fail',
      detail: `${rpc} does not answer as chain ${d.chainId}: ${firstLine(err)}`,
      fix: 'start the chain node or fix MAGNET_CHAIN_RPC',
    };
  } finally {
    provider.destroy();
  }
}

const firstLine = (err: unknown) => errorMessage(err).split('\n')[0]!.slice(0, 300);
