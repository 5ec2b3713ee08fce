import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type SigningKey, Wallet } from 'ethers';
import { pino } from 'pino';
import { nodeIdFromPublicKey } from '../../daemon/src/identity/node-id.js';
import { signDigest } from '../../daemon/src/identity/signature.js';
import { allMigrations } from '../../daemon/src/node/all-migrations.js';
import { openStateDb } from '../../daemon/src/db/database.js';
import { RoundCoordinator } from '../../daemon/src/diloco/coordinator.js';
import { dilocoMetrics } from '../../daemon/src/diloco/metrics.js';
import { dilocoOptions } from '../../daemon/src/diloco/options.js';
import { type DilocoOptions, TrainerJobs, dataSliceOf } from '../../daemon/src/diloco/trainer-jobs.js';
import { Metrics } from '../../daemon/src/metrics/metrics.js';
import { tempHome } from './daemon.js';
import { LoopbackCluster } from './loopback-rounds.js';
import type { RoundNetwork } from '../../daemon/src/diloco/ports.js';

/** Fast round settings for tests: a tiny model, a few steps, no warmup so the loss moves at once. */
export function testDilocoOptions(extra: Partial<DilocoOptions> = {}): DilocoOptions {
  const defaults = Object.fromEntries(Object.entries(dilocoOptions).map(([k, f]) => [k, f.default])) as DilocoOptions;
  return {
    ...defaults,
    preset: 'tiny',
    innerSteps: 8,
    batch: 4,
    seq: 64,
    innerLr: 2e-3,
    warmup: 0,
    verifyWindows: 2,
    startDelaySec: 0,
    roundTimeoutSec: 600,
    announceGraceSec: 5,
    threads: 1,
    ...extra,
  };
}

/** A wallet key and the nodeId and address it names. */
export function testKey(): { key: SigningKey; nodeId: string; address: string } {
  const w = Wallet.createRandom();
  return { key: w.signingKey, nodeId: nodeIdFromPublicKey(w.signingKey.compressedPublicKey), address: w.address };
}

/**
 * n coordinators with real wallet keys (their statements must verify), ids sorted so that ids[0] leads round 0,
 * each with its own home and SQLite, joined by a LoopbackCluster.
 */
export function makeCluster(
  n: number,
  opts: DilocoOptions,
  logFile?: string,
  /** Replaces a node's network (a test's misbehaving node). */
  wrap?: (nodeId: string, net: RoundNetwork) => RoundNetwork,
) {
  const root = tempHome('magnet-rounds-');
  const cluster = new LoopbackCluster(root);
  const log = pino({ level: 'debug' }, pino.destination({ dest: logFile ?? join(root, 'rounds.log'), sync: true }));
  const keys = Array.from({ length: n }, testKey).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  const byId = new Map(keys.map((k) => [k.nodeId, k]));
  const ids = keys.map((k) => k.nodeId);
  const dbs = new Map<string, ReturnType<typeof openStateDb>['db']>();
  /** Each node's metrics registry (read with .text()). */
  const metrics = new Map<string, Metrics>();
  /** A coordinator on `nodeId`'s home and database (a second call is that node restarted). */
  const spawn = (nodeId: string): RoundCoordinator => {
    const home = join(root, nodeId);
    mkdirSync(home, { recursive: true });
    let db = dbs.get(nodeId);
    if (!db) dbs.set(nodeId, (db = openStateDb(join(home, 'state.db'), allMigrations).db));
    const nlog = log.child({ node: nodeId });
    const k = byId.get(nodeId) as ReturnType<typeof testKey>;
    const c = new RoundCoordinator(opts, {
      self: { nodeId, address: k.address, roles: ['trainer'] },
      home,
      db,
      log: nlog,
      metrics: dilocoMetrics(metrics.set(nodeId, new Metrics()).get(nodeId) as Metrics), // a restart starts its counters afresh
      network: wrap ? wrap(nodeId, cluster.network(nodeId)) : cluster.network(nodeId),
      storage: cluster.storage(nodeId),
      members: cluster.members(),
      signer: { nodeId, sign: (d) => signDigest(k.key, d) },
      contributions: cluster.sink(),
      receipts: cluster.receipts(nodeId),
      jobs: new TrainerJobs(opts, nlog, process.env, dataSliceOf({ nodeId, address: k.address }, opts, [])),
    });
    cluster.add(nodeId, home, c);
    return c;
  };
  const coordinators = ids.map(spawn);
  return { root, cluster, ids, keys: byId, coordinators, spawn, metrics, logFile: logFile ?? join(root, 'rounds.log') };
}
