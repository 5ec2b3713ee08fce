import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { privateKeyFromRaw } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { HDNodeWallet, Mnemonic, getBytes } from 'ethers';
import { parse } from 'yaml';
import { DEV_MNEMONIC } from '../chain/local-chain.js';
import { REPO_ROOT } from '../version.js';

/**
 * No Docker engine runs here, so the compose testnet is checked for what would break it silently: wiring between
 * services, keys that anvil funds, the bootstrap peer id of node1, and MAGNET_* names the daemon actually reads.
 */

interface Service {
  image?: string;
  build?: string;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
}

const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const nodes = ['node1', 'node2', 'node3'];
const devKey = (i: number) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${i}`).privateKey;

/** Every MAGNET_* name that appears in the daemon's TypeScript sources (config schema, profile, CLI). */
function namesTheDaemonReads(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.test.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/MAGNET_[A-Z0-9_]+/g)) names.add(m[0]);
    }
  };
  walk(join(REPO_ROOT, 'daemon', 'src'));
  return names;
}

test('docker-compose: kubo, chain, deploy step and three nodes, started in dependency order', () => {
  assert.deepEqual(Object.keys(services).sort(), ['chain', 'deploy', 'kubo', ...nodes].sort());
  assert.equal(services.deploy!.depends_on?.chain?.condition, 'service_healthy');
  for (const n of nodes) {
    assert.equal(services[n]!.depends_on?.kubo?.condition, 'service_healthy', n);
    assert.equal(services[n]!.depends_on?.deploy?.condition, 'service_completed_successfully', n);
    assert.ok(services[n]!.volumes?.includes('shared:/shared:ro'), `${n} mounts the deployment volume`);
  }
  for (const v of ['kubo', 'shared', ...nodes]) assert.ok(v in compose.volumes, `volume ${v} declared`);
});

test('docker-compose: nodes reach the chain and the deployment the deploy step writes', () => {
  const anvilArgs = services.chain!.entrypoint!;
  const port = anvilArgs[anvilArgs.indexOf('--port') + 1];
  const deployCmd = services.deploy!.entrypoint!.join(' ');
  const out = /--out (\S+)/.exec(deployCmd)?.[1];
  assert.match(deployCmd, /chain deploy --fast --rpc http:\/\/chain:(\d+)/);
  assert.equal(/--rpc http:\/\/chain:(\d+)/.exec(deployCmd)?.[1], port, 'deploy talks to anvil on its port');
  assert.equal(services.deploy!.environment?.MAGNET_DEPLOYER_KEY, devKey(0), "the deployer is anvil's funded key #0");
  for (const n of nodes) {
    const env = services[n]!.environment!;
    assert.equal(env.MAGNET_CHAIN_RPC, `http://chain:${port}`, n);
    assert.equal(env.MAGNET_CHAIN_DEPLOYMENT, out, n);
    assert.equal(env.MAGNET_IPFS_API, 'http://kubo:5001', n);
    assert.ok(Number(env.MAGNET_CHAIN_REGISTER_BOND) > 0, `${n} registers itself`);
  }
});

test('docker-compose: node keys are distinct funded dev keys and node2/node3 bootstrap to node1 by its real peer id', () => {
  const keys = nodes.map((n) => services[n]!.environment!.MAGNET_IMPORT_KEY!);
  assert.deepEqual(keys, [devKey(1), devKey(2), devKey(3)], "anvil's funded development keys #1-#3");
  const node1Peer = peerIdFromPrivateKey(privateKeyFromRaw(getBytes(keys[0]!))).toString();
  for (const n of ['node2', 'node3']) {
    const cmd = services[n]!.command!.join(' ');
    assert.equal(/--bootstrap \/dns4\/node1\/tcp\/7601\/p2p\/(\S+)/.exec(cmd)?.[1], node1Peer, `${n} bootstraps to node1's peer id`);
  }
  assert.match(services.node1!.command!.join(' '), /--p2p \/ip4\/0\.0\.0\.0\/tcp\/7601/);
});

test('docker-compose: every MAGNET_* variable it sets is one the daemon reads (a typo would be ignored silently)', () => {
  const known = namesTheDaemonReads();
  for (const [name, s] of Object.entries(services)) {
    for (const key of Object.keys(s.environment ?? {}).filter((k) => k.startsWith('MAGNET_'))) {
      assert.ok(known.has(key), `${name}: ${key} is not read anywhere in daemon/src`);
    }
  }
});

test('docker-compose and Dockerfile: the daemon runs unprivileged and publishes only the public API, never the admin one', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const user = /^USER\s+(\S+)/m.exec(dockerfile)?.[1];
  assert.ok(user && user !== 'root' && user !== '0', `the image runs as an unprivileged user (USER ${user ?? 'missing'})`);
  const cmd = JSON.parse(/^CMD\s+(\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
  assert.equal(cmd[cmd.indexOf('--api') + 1], '0.0.0.0:7680', 'the image serves the public API on 7680');
  assert.match(cmd[cmd.indexOf('--admin') + 1] ?? '', /^127\./, 'the image keeps the admin API on loopback');
  const exposed = (/^EXPOSE\s+(.*)$/m.exec(dockerfile)?.[1] ?? '').split(/\s+/).sort();
  assert.deepEqual(exposed, ['7600', '7601', '7680'], 'public API and peer ports only');
  for (const n of nodes) {
    const c = services[n]!.command!.join(' ');
    assert.match(c, /--api 0\.0\.0\.0:7680/, `${n} serves the public API`);
    assert.match(c, /--admin 127\.\d+\.\d+\.\d+:\d+/, `${n} keeps its admin API on the container's loopback`);
    assert.ok(!/--http\b/.test(c), `${n} uses no removed flag`);
    for (const p of services[n]!.ports ?? []) assert.equal(p.split(':').pop(), '7680', `${n} publishes ${p}: only the public API`);
  }
});
