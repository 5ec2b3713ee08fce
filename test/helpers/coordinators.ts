import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { allMigrations } from '../../daemon/src/db/all-migrations.js';
import { openStateDb } from '../../daemon/src/db/database.js';
import { RoundCoordinator } from '../../daemon/src/diloco/coordinator.js';
import { dilocoMetrics } from '../../daemon/src/diloco/metrics.js';
import { dilocoOptions } from '../../daemon/src/diloco/options.js';
import { type DilocoOptions, TrainerJobs } from '../../daemon/src/diloco/trainer-jobs.js';
import { Metrics } from '../../daemon/src/metrics/metrics.js';
import { tempHome } from './daemon.js';
import { LoopbackCluster } from './loopback-rounds.js';

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

/** n coordinators with sorted ids node-a…, each with its own home and SQLite, joined by a LoopbackCluster. */
export function makeCluster(n: number, opts: DilocoOptions, logFile?: string) {
  const root = tempHome('magnet-rounds-');
  const cluster = new LoopbackCluster(root);
  const log = pino({ level: 'debug' }, pino.destination({ dest: logFile ?? join(root, 'rounds.log'), sync: true }));
  const ids = Array.from({ length: n }, (_, i) => `node-${String.fromCharCode(97 + i).repeat(16)}`);
  const dbs = new Map<string, ReturnType<typeof openStateDb>['db']>();
  /** A coordinator on `nodeId`'s home and database (a second call is that node restarted). */
  const spawn = (nodeId: string): RoundCoordinator => {
    const home = join(root, nodeId);
    mkdirSync(home, { recursive: true });
    let db = dbs.get(nodeId);
    if (!db) dbs.set(nodeId, (db = openStateDb(join(home, 'state.db'), allMigrations).db));
    const nlog = log.child({ node: nodeId });
    const c = new RoundCoordinator(opts, {
      self: { nodeId, roles: ['trainer'] },
      home,
      db,
      log: nlog,
      metrics: dilocoMetrics(new Metrics()),
      network: cluster.network(nodeId),
      storage: cluster.storage(nodeId),
      contributions: cluster.sink(),
      receipts: cluster.receipts(nodeId),
      jobs: new TrainerJobs(opts, nlog, process.env),
    });
    cluster.add(nodeId, home, c);
    return c;
  };
  const coordinators = ids.map(spawn);
  return { root, cluster, ids, coordinators, spawn, logFile: logFile ?? join(root, 'rounds.log') };
}
