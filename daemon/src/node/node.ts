import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { HttpApi } from '../api/http-server.js';
import { type NodeConfig, nodeSchema } from '../config/node-config.js';
import { redactConfig } from '../config/load.js';
import { allMigrations } from '../db/all-migrations.js';
import { type StateDb, openStateDb } from '../db/database.js';
import { MetaRepository } from '../db/repos/meta-repo.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import { Metrics } from '../metrics/metrics.js';
import { type HardwareProfile, measureProfile } from '../profile/profile.js';
import { ProfileRepository } from '../profile/profile-repo.js';
import { type RewardConfig, type Role, loadRewardConfig } from '../profile/reward-config.js';
import { type TierDecision, classifyTier, resolveRoles } from '../profile/tier.js';
import { writeFileAtomic } from '../util/fs.js';
import { formatHostPort, parseHostPort } from '../util/host-port.js';
import { type Startable, startAll, stopAll } from '../util/lifecycle.js';
import { REPO_ROOT, VERSION } from '../version.js';
import { HomeDir } from './home.js';
import { unlockOrCreateIdentity } from './identity-setup.js';
import { statusRoutes } from './status-routes.js';

/** A started part and the section it adds to /status. */
interface Part {
  name: string;
  part: Startable;
  status?: () => unknown;
}

export interface NodeDeps {
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/**
 * The composition root: builds every part in dependency order and owns them. Only the CLI handles signals.
 */
export class MagnetNode {
  private readonly parts: Part[] = [];
  private started = false;
  /** Process start, so start-up time and uptime include loading the code. */
  private readonly startedAt = Math.round(performance.timeOrigin);
  private releaseLock: (() => void) | undefined;

  private constructor(
    readonly config: NodeConfig,
    readonly home: HomeDir,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly db: StateDb,
    readonly identity: NodeIdentity,
    readonly profile: HardwareProfile,
    readonly tier: TierDecision,
    readonly roles: Role[],
    readonly rewards: RewardConfig,
    readonly http: HttpApi,
  ) {}

  static async create(config: NodeConfig, deps: NodeDeps): Promise<MagnetNode> {
    const log = deps.log;
    log.info({ config: redactConfig(nodeSchema, config) }, 'configuration');
    const home = new HomeDir(config.node.home);
    home.ensure();
    const releaseLock = home.lock(); // before anything touches the database: one daemon per home
    try {
      // Read config files before any slow step so a bad value fails fast.
      const rewards = loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), deps.env);
      const httpListen = parseHostPort(config.api.http, 'api.http');
      const identity = await unlockOrCreateIdentity(home, deps.env, log);
      const { db, applied } = openStateDb(home.database, allMigrations);
      if (applied.length > 0) log.info({ applied }, 'state database migrated');
      const meta = new MetaRepository(db);
      const knownId = meta.get('node_id');
      if (knownId !== undefined && knownId !== identity.nodeId) {
        log.warn({ knownId, nodeId: identity.nodeId }, 'the keystore holds a different key than the one this state database was made with');
      }
      meta.set('node_id', identity.nodeId);

      const profile = await measureProfile({
        dataDir: home.root,
        ssdTest: config.profile.ssdTest,
        ssdBlocks: config.profile.ssdBlocks,
        ssdQueueDepth: config.profile.ssdQueueDepth,
      });
      const tier = classifyTier({ hardware: profile.hardware, ssd: profile.ssd, researchAgent: config.profile.researchAgent }, rewards);
      new ProfileRepository(db).add(profile, tier);
      const roles = resolveRoles(tier, config.node.role, config.profile.cpuTraining);
      log.info({ tier: tier.tier, roles, ssd: profile.ssd, reasons: tier.reasons }, 'hardware profiled');

      const metrics = new Metrics();
      const http = new HttpApi({ listen: httpListen }, log.child({ part: 'api' }));
      const node = new MagnetNode(config, home, log, metrics, db, identity, profile, tier, roles, rewards, http);
      node.releaseLock = releaseLock;
      // The HTTP API starts first so /healthz answers while the other parts start; /readyz waits for all.
      node.parts.push({ name: 'api', part: http });
      http.add(...statusRoutes(node, metrics));
      metrics.gauge('node_info', 'Static facts about this node', ['node_id', 'tier', 'version']).set({ node_id: identity.nodeId, tier: tier.tier, version: VERSION }, 1);
      return node;
    } catch (err) {
      releaseLock();
      throw err;
    }
  }

  /** Adds a part; parts start in the order added and stop in reverse. */
  addPart(name: string, part: Startable, status?: () => unknown): void {
    this.parts.push(status ? { name, part, status } : { name, part });
  }

  async start(): Promise<void> {
    await startAll(this.parts);
    writeFileAtomic(this.home.apiFile, JSON.stringify({ http: `http://${formatHostPort(this.http.address)}`, pid: process.pid, nodeId: this.identity.nodeId }));
    this.started = true;
    this.log.info({ nodeId: this.identity.nodeId, http: formatHostPort(this.http.address), startupMs: Date.now() - this.startedAt }, 'node ready');
  }

  /** Stops parts in reverse order, closes SQLite last, releases the home lock. */
  async stop(): Promise<void> {
    this.started = false;
    rmSync(this.home.apiFile, { force: true });
    try {
      await stopAll(this.parts);
    } finally {
      this.db.close();
      this.releaseLock?.();
      this.releaseLock = undefined;
      this.log.info('node stopped');
    }
  }

  ready(): boolean {
    return this.started;
  }

  status(): Record<string, unknown> {
    const sections: Record<string, unknown> = {};
    for (const p of this.parts) if (p.status) sections[p.name] = p.status();
    return {
      nodeId: this.identity.nodeId,
      address: this.identity.address,
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      ready: this.started,
      tier: this.tier.tier,
      tierMultiplier: this.tier.multiplier,
      roles: this.roles,
      listen: { http: this.started ? formatHostPort(this.http.address) : null },
      profile: { measuredAt: new Date(this.profile.measuredAt).toISOString(), hardware: this.profile.hardware, ssd: this.profile.ssd, reasons: this.tier.reasons },
      ...sections,
    };
  }
}
