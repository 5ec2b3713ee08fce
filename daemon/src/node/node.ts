import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AdminGate, isLoopbackHost } from '../api/admin-gate.js';
import { loadOrCreateAdminToken } from '../api/admin-token.js';
import { HttpApi } from '../api/http-server.js';
import type { RequestGate } from '../api/gate.js';
import { PublicGate } from '../api/public-gate.js';
import { type NodeConfig, configValue, nodeSchema } from './node-config.js';
import { redactConfig } from '../config/load.js';
import { allMigrations } from './all-migrations.js';
import { type StateDb, openStateDb } from '../db/database.js';
import { MetaRepository } from '../db/repos/meta-repo.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import { Metrics } from '../metrics/metrics.js';
import { type HardwareProfile, measureProfile } from '../profile/profile.js';
import { ProfileRepository } from '../profile/profile-repo.js';
import { type RewardConfig, type Role, loadRewardConfig } from '../profile/reward-config.js';
import { settleTier } from '../profile/saved-tier.js';
import { type TierDecision, resolveRoles } from '../profile/tier.js';
import { ConfigError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { type HostPort, formatHostPort, parseHostPort } from '../util/host-port.js';
import { type Startable, startAll, stopAll } from '../util/lifecycle.js';
import { type JoinedNetwork, describeNetwork, implicitNetwork, rememberNetwork } from '../network/joined.js';
import { REPO_ROOT, VERSION } from '../version.js';
import { HomeDir } from './home.js';
import { unlockOrCreateIdentity } from './identity-setup.js';
import { devNetworkNotice, devRoles, isDevNetwork } from './dev-network.js';
import { statusLine } from './status-line.js';
import { healthRoutes, statusRoutes } from './status-routes.js';

/** A started part and the section it adds to /status. */
interface Part {
  name: string;
  part: Startable;
  status?: () => unknown;
}

export interface NodeDeps {
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** The network this node is in (`loadNodeSetup`); default: the implicit one of its own round settings. */
  network?: JoinedNetwork;
}

/** How often a running node logs its one-line status. */
const STATUS_LINE_MS = 60_000;

/**
 * The composition root: builds every part in dependency order and owns them. Only the CLI handles signals.
 */
export class MagnetNode {
  private readonly parts: Part[] = [];
  private started = false;
  /** Process start, so start-up time and uptime include loading the code. */
  private readonly startedAt = Math.round(performance.timeOrigin);
  private releaseLock: (() => void) | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  /** The one shutdown signal: aborted first thing in stop(), it reaches every loop, timer and subprocess. */
  private readonly abort: AbortController;

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
    /** Public listener: /v1 (OpenAI-compatible), /healthz, /readyz; API keys and per-client limits. */
    readonly api: HttpApi,
    /** Admin listener (loopback, bearer token): status, metrics and every part's operator routes. */
    readonly admin: HttpApi,
    /** The network this node is in: its id travels in every Hello, and peers of another network are refused. */
    readonly network: JoinedNetwork,
    abort: AbortController,
  ) {
    this.abort = abort;
  }

  /** Aborted when the node begins to stop: parts stop taking work, cut their loops and jobs. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  static async create(config: NodeConfig, deps: NodeDeps): Promise<MagnetNode> {
    const log = deps.log;
    // About 100 values: at debug level, so a terminal's first screen is about the node, not its settings.
    log.debug({ config: redactConfig(nodeSchema, config) }, 'configuration');
    const home = new HomeDir(config.node.home);
    home.ensure();
    const releaseLock = home.lock(); // before anything touches the database: one daemon per home
    try {
      // Read config files before any slow step so a bad value fails fast.
      const rewards = loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), deps.env);
      const apiListen = parseHostPort(config.api.listen, 'api.listen');
      const adminListen = adminAddress(config.api.admin);
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
        ssdRuns: config.profile.ssdRuns,
      });
      // The saved profile's checks hold unless this measurement clearly crosses a floor: one tier from start to start.
      const { decision: tier, alone } = settleTier(new ProfileRepository(db), profile, config.profile.researchAgent, rewards, 'keep');
      const network = deps.network ?? implicitNetwork((key) => configValue(config, key));
      rememberNetwork(network, home.root);
      log.info(
        { network: network.id, source: network.source, preset: network.spec.model.preset, innerSteps: network.spec.round['innerSteps'] },
        network.source === 'implicit'
          ? `network ${describeNetwork(network)}: the one this node's own round settings make (no --network given)`
          : `network ${describeNetwork(network)} joined`,
      );
      const own = resolveRoles(tier, config.node.role, config.profile.cpuTraining);
      const dev = isDevNetwork(config, network);
      const roles = dev ? devRoles(own) : own;
      log.info({ tier: tier.tier, roles, ssd: profile.ssd, reasons: tier.reasons }, 'hardware profiled');
      const missing = (['server', 'storage'] as const).filter((r) => !roles.includes(r));
      if (missing.length > 0 && config.node.role === 'auto')
        log.warn(
          { tier: tier.tier, reasons: tier.reasons },
          `tier ${tier.tier} takes no ${missing.join(' or ')} role: ${tier.reasons.join('; ')}`,
        );
      if (dev)
        log.warn(
          { roles },
          devNetworkNotice(
            tier.tier,
            roles.filter((r) => !own.includes(r)),
          ),
        );
      if (alone.tier !== tier.tier) {
        log.info(
          { tier: tier.tier, measuredTier: alone.tier, held: tier.held },
          `tier ${tier.tier} kept (this measurement alone gives ${alone.tier}): ${tier.held.join('; ')}; \`magnet-node profile --save\` re-measures and replaces it`,
        );
      }

      const metrics = new Metrics();
      const c = config.api;
      const refused = metrics.counter('http_refused_total', 'HTTP requests refused before their handler, by listener and status', [
        'listener',
        'status',
      ]);
      const onRefused = (listener: string) => (status: number) => refused.inc({ listener, status: String(status) });
      const publicGate = new PublicGate({ ratePerMinute: c.ratePerMinute, burst: c.burst, maxInFlight: c.maxInFlight }, c.keysFile, log);
      // From the first moment of a stop, /v1 takes no work (503); /healthz and /readyz still answer.
      const abort = new AbortController();
      const gate = closingGate(publicGate, abort.signal);
      const api = new HttpApi(
        { listen: apiListen, name: 'public API', flag: '--api', gate, onRefused: onRefused('public') },
        log.child({ part: 'api' }),
      );
      const token = loadOrCreateAdminToken(home.adminTokenFile);
      // The gate asks for the bound port only when a request comes, after `admin` has started.
      const adminGate: AdminGate = new AdminGate(token, (): number => admin.address.port);
      const admin: HttpApi = new HttpApi(
        { listen: adminListen, name: 'admin API', flag: '--admin', gate: adminGate, onRefused: onRefused('admin') },
        log.child({ part: 'admin' }),
      );
      const node = new MagnetNode(config, home, log, metrics, db, identity, profile, tier, roles, rewards, api, admin, network, abort);
      node.releaseLock = releaseLock;
      // The listeners start first so /healthz answers while the other parts start; /readyz waits for all.
      node.parts.push({ name: 'api', part: api }, { name: 'admin', part: admin });
      api.add(...healthRoutes(node));
      admin.add(...healthRoutes(node), ...statusRoutes(node, metrics));
      metrics
        .gauge('node_info', 'Static facts about this node', ['node_id', 'tier', 'version'])
        .set({ node_id: identity.nodeId, tier: tier.tier, version: VERSION }, 1);
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
    writeFileAtomic(
      this.home.apiFile,
      JSON.stringify({ api: urlOf(this.api.address), admin: urlOf(this.admin.address), pid: process.pid, nodeId: this.identity.nodeId }),
    );
    this.started = true;
    this.statusTimer = setInterval(() => this.log.info(statusLine(this.status())), STATUS_LINE_MS).unref();
    const listen = { api: formatHostPort(this.api.address), admin: formatHostPort(this.admin.address) };
    this.log.info({ nodeId: this.identity.nodeId, ...listen, startupMs: Date.now() - this.startedAt }, 'node ready');
    // The token is not printed (logs travel); the CLI reads it from the home and prints the URL that carries it.
    this.log.info(`dashboard: ${urlOf(this.admin.address)}/dashboard (run \`magnet-node dashboard\` for the link with the admin token)`);
  }

  /**
   * The one shutdown path. First it stops taking work: the signal aborts, so /v1 answers 503 and round messages are
   * refused, and every loop, timer and trainer job it reaches ends or is cut. Then the parts stop in reverse order:
   * diloco drains the round in progress (the tick running ends, leaving its round as persisted) and stops the trainer,
   * then serve, chain, storage and the network close, the listeners last (/healthz answers to the end); SQLite closes
   * after every part, and the home lock is released last of all.
   */
  async stop(): Promise<void> {
    this.started = false;
    clearInterval(this.statusTimer);
    rmSync(this.home.apiFile, { force: true });
    if (!this.abort.signal.aborted) this.log.info('stopping: no new work taken; draining the round in progress');
    this.abort.abort();
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
      network: { id: this.network.id, name: this.network.spec.name, source: this.network.source },
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      ready: this.started,
      tier: this.tier.tier,
      tierMultiplier: this.tier.multiplier,
      roles: this.roles,
      listen: this.started ? { api: formatHostPort(this.api.address), admin: formatHostPort(this.admin.address) } : null,
      profile: {
        measuredAt: new Date(this.profile.measuredAt).toISOString(),
        hardware: this.profile.hardware,
        ssd: this.profile.ssd,
        reasons: this.tier.reasons,
      },
      ...sections,
    };
  }
}

/** The public gate, and once `closing` aborted, 503 for /v1 (the work routes) before any key or limit is checked. */
function closingGate(inner: RequestGate, closing: AbortSignal): RequestGate {
  return {
    admit(req, routed) {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (closing.aborted && (path === '/v1' || path.startsWith('/v1/')))
        return {
          refuse: {
            status: 503,
            message: 'the node is shutting down and takes no new requests; retry on another node or after it restarts',
            type: 'shutting_down',
            headers: { 'retry-after': '5' },
          },
        };
      return inner.admit(req, routed);
    },
  };
}

const urlOf = (a: HostPort): string => `http://${formatHostPort(a)}`;

/** The admin listener's address: loopback only (the token guards this machine's users, not the internet). */
function adminAddress(value: string): HostPort {
  const a = parseHostPort(value, 'api.admin');
  if (!isLoopbackHost(a.host))
    throw new ConfigError(`api.admin: "${value}" is not a loopback address; the admin API listens on 127.0.0.1, [::1] or localhost only`, {
      key: 'api.admin',
      value,
    });
  return a;
}
