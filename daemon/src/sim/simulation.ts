/**
 * The round simulation (issue 18): N nodes, each a real RoundCoordinator with its own secp256k1 key, its own SQLite
 * database (in memory) and home directory, its own Membership (chain source, over a simulated registry), so
 * election, announcement, collection, judging, voting, certification, failover and catch-up are the daemon's own
 * code. Simulated, behind the ports of diloco/ports.ts: the network (sim-network.ts: latency, loss, partitions, down
 * nodes, blob transfers over queued links), storage (a shared store), the trainer (sim-trainer.ts: simulated
 * durations, files whose bytes hash their inputs), hostile members (hostile.ts) and time (virtual-clock.ts).
 *
 * The clock: the round modules read Date.now() and set timers in about 50 places. Injecting a clock would touch a
 * dozen files others are changing, and node:test's mock.timers (Node 20: setTimeout, setInterval, Date) only moves
 * by tick(ms) without saying when the next timer is due, so it would step in small fixed increments. A virtual clock
 * that patches those globals for the run and jumps from one due timer to the next changes no module and runs a
 * simulated hour in the time its events take.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createHash } from 'node:crypto';
import { SigningKey, computeAddress } from 'ethers';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { type StateDb, openStateDb } from '../db/database.js';
import { RoundCoordinator } from '../diloco/coordinator.js';
import { leaderOf } from '../diloco/election.js';
import { lossHistoryMigrations } from '../diloco/loss-history.js';
import { dilocoMetrics } from '../diloco/metrics.js';
import { dilocoOptions } from '../diloco/options.js';
import { dilocoMigrations } from '../diloco/round-repo.js';
import type { DilocoOptions } from '../diloco/trainer-jobs.js';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import type { Logger } from '../log/logger.js';
import { Membership } from '../membership/membership.js';
import { membershipOptions } from '../membership/options.js';
import type { RegistryEntry } from '../membership/registry-source.js';
import { Metrics } from '../metrics/metrics.js';
import { type HostileKind, type HostileTally, HOSTILE_ORDER, announceFalsely, hostileNetwork } from './hostile.js';
import { SimNetwork, type SimPeer } from './sim-network.js';
import { SIM_DEFAULTS, type SimInput, type SimOptions } from './sim-options.js';
import { SimTrainerJobs } from './sim-trainer.js';
import { type SimEvents, type SimReport, summarize } from './sim-report.js';
import { VirtualClock } from './virtual-clock.js';

interface SimNode {
  peer: SimPeer;
  key: SigningKey;
  address: string;
  db: StateDb;
  member: boolean;
  hostile: HostileKind | undefined;
  membership: Membership;
  abort: AbortController;
}

/** A deterministic generator (mulberry32) so a seed replays the same run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Metrics of one node without the process collectors (a thousand registries would each sample the process). */
function bareMetrics(): Metrics {
  const m = Object.create(Metrics.prototype) as Metrics;
  Object.defineProperty(m, 'registry', { value: new Registry() });
  return m;
}

/**
 * Runs `o.nodes` real round coordinators (real keys, statements, SQLite, membership, election, collection, voting,
 * failover, catch-up) over a simulated network and clock until every honest live member finished `o.rounds` rounds
 * or the simulated time ran out, and reports what happened.
 */
export async function simulate(input: SimInput): Promise<SimReport> {
  const o: SimOptions = {
    ...SIM_DEFAULTS,
    ...input,
    net: { ...SIM_DEFAULTS.net, ...input.net },
    times: { ...SIM_DEFAULTS.times, ...input.times },
  };
  const wall0 = performance.now();
  const rand = seeded(o.seed);
  const root = mkdtempSync(join(process.env['MAGNET_SIM_DIR'] ?? tmpdir(), 'magnet-sim-'));
  const clock = new VirtualClock();
  const events: SimEvents = { refusals: [], failovers: [], certifiedAt: new Map(), churned: 0, partitions: 0 };
  // Warnings only: refusals and failovers are what the report counts (the sender, message kind and reason of each).
  const log = pino(
    { level: 'warn', base: null, timestamp: false },
    {
      write: (line: string) => {
        const j = JSON.parse(line) as Record<string, unknown>;
        if (typeof j['sender'] === 'string' && typeof j['reason'] === 'string' && typeof j['message'] === 'string')
          events.refusals.push({ node: String(j['node']), sender: j['sender'], message: j['message'], reason: j['reason'] });
        else if (j['msg'] === 'gave up on the leader of this round')
          events.failovers.push({
            node: String(j['node']),
            round: Number(j['round']),
            leader: String(j['leader']),
            reason: String(j['reason']),
          });
      },
    },
  ) as Logger;
  const opts: DilocoOptions = {
    ...(Object.fromEntries(Object.entries(dilocoOptions).map(([k, f]) => [k, f.default])) as DilocoOptions),
    innerSteps: 100,
    startDelaySec: 5,
    maxRounds: o.rounds,
    persistentTrainer: false,
    ...o.diloco,
  };
  // Keys from the seed: the same seed gives the same nodeIds, so the same rotation of leaders.
  const keys = Array.from(
    { length: o.nodes },
    (_, i) => new SigningKey(createHash('sha256').update(`magnet-sim key ${o.seed} ${i}`).digest()),
  )
    .map((key) => ({ key, address: computeAddress(key.publicKey), id: nodeIdFromPublicKey(key.compressedPublicKey) }))
    .sort((a, b) => a.id.localeCompare(b.id));
  const memberCount = o.members > 0 ? Math.min(o.members, o.nodes) : o.nodes;
  const memberIds = shuffle(
    keys.map((k) => k.id),
    rand,
  ).slice(0, memberCount);
  const registry: RegistryEntry[] = keys
    .filter((k) => memberIds.includes(k.id))
    .map((k) => ({ address: k.address, nodeId: k.id, tier: 1, active: true }));
  const kinds =
    o.hostileKinds ??
    Array.from(
      { length: o.hostile > 0 ? Math.max(1, Math.round(o.hostile * memberCount)) : 0 },
      (_, i) => HOSTILE_ORDER[i % HOSTILE_ORDER.length] as HostileKind,
    );
  // Members that do not train (they only vote); hostile members are trainers.
  const voterIds = new Set(memberIds.slice(0, Math.min(o.voters, memberCount - 1)));
  const trainerIds = memberIds.filter((id) => !voterIds.has(id));
  // A silent leader goes first in the rotation of round 1 (so it has a round to be silent in); the rest at random.
  const order = [...trainerIds].sort();
  const first = order[1 % order.length] as string;
  const rest = shuffle(
    trainerIds.filter((id) => id !== first),
    rand,
  );
  const kindsInTurn = [...kinds].sort((a, b) => Number(b === 'silent-leader') - Number(a === 'silent-leader'));
  const hostileOf = new Map(
    (kindsInTurn[0] === 'silent-leader' ? [first, ...rest] : rest)
      .slice(0, kinds.length)
      .map((id, i) => [id, kindsInTurn[i] as HostileKind]),
  );
  const net = new SimNetwork(clock, rand, o.net, root);
  const nodes = new Map<string, SimNode>();
  const tally: HostileTally = { falseAnnouncementsAccepted: 0, sent: 0 };

  clock.install();
  try {
    for (const { key, address, id } of keys) {
      const home = join(root, id);
      mkdirSync(home, { recursive: true });
      const member = memberIds.includes(id);
      const membership = new Membership(
        { members: [], refreshSeconds: membershipOptions.refreshSeconds.default },
        { self: { nodeId: id, address }, registry: { list: async () => registry }, log: log.child({ node: id }) },
      );
      const peer: SimPeer = {
        id,
        roles: member ? (voterIds.has(id) ? ['storage'] : ['trainer']) : ['serve'],
        home,
        up: false,
        since: clock.now(),
        epoch: 0,
        node: undefined,
        isMember: (x) => membership.isMember(x),
      };
      net.add(peer);
      const db = openStateDb(':memory:', [...dilocoMigrations, ...lossHistoryMigrations]).db;
      nodes.set(id, { peer, key, address, db, member, hostile: hostileOf.get(id), membership, abort: new AbortController() });
      await membership.start();
    }
    net.membershipChanged();

    const boot = (n: SimNode): void => {
      n.abort = new AbortController();
      const id = n.peer.id;
      const nlog = log.child({ node: id });
      const signer = { nodeId: id, sign: (d: Buffer) => signDigest(n.key, d) };
      const plain = net.roundNetwork(id);
      const network = n.hostile ? hostileNetwork(n.hostile, plain, { me: id, signer, others: () => memberIds }) : plain;
      const c = new RoundCoordinator(opts, {
        self: { nodeId: id, address: n.address, roles: n.peer.roles },
        home: n.peer.home,
        db: n.db,
        log: nlog,
        metrics: dilocoMetrics(bareMetrics()),
        network,
        storage: net.roundStorage(id),
        members: n.membership,
        signer,
        contributions: { record: () => undefined },
        jobs: new SimTrainerJobs(opts, nlog, clock, o.times, rand, n.hostile === 'poison', n.abort.signal),
        signal: n.abort.signal,
      });
      n.peer.node = c;
      net.setUp(id, true);
      // Ticks spread over the first second, as independent processes would.
      clock.schedule(rand() * 1000, () => void c.start());
      if (n.hostile === 'false-announce') {
        const epoch = n.peer.epoch;
        const timer = clock.schedule(
          20_000,
          () => {
            if (n.peer.epoch !== epoch) return clock.cancel(timer);
            const r = c.currentRound();
            const latest = n.db.prepare('SELECT sha256 FROM diloco_latest WHERE id = 1').get() as { sha256: string } | undefined;
            if (!latest || r >= o.rounds || leaderOf(r, [...memberIds].sort()) === id) return;
            const to = memberIds.filter((x) => x !== id);
            const a = {
              round: r,
              leader: id,
              innerSteps: opts.innerSteps,
              deadlineMs: clock.now() + 600_000,
              baseSha256: latest.sha256,
              baseManifest: null,
              eligible: [...memberIds].sort(),
              failedLeaders: [],
            };
            void announceFalsely(plain, a, to, tally, (x) => {
              const s = nodes.get(x)?.peer.node?.status();
              return s?.['round'] === r ? (s['leader'] as string) : undefined;
            });
          },
          20_000,
        );
      }
    };
    const down = (n: SimNode): void => {
      net.setUp(n.peer.id, false);
      n.abort.abort();
      n.peer.node = undefined;
      events.churned++;
    };
    for (const n of nodes.values()) boot(n);

    // Every simulated second: which round each honest live member is at; churn and partitions when a round ends.
    const honest = () => [...nodes.values()].filter((n) => n.member && !n.hostile);
    // o.leaderAway: round 1's leader goes down once it announced, with the members that do not train (SimOptions).
    let leaderSent = false;
    const sendLeaderAway = (away: { leaderSec: number; votersSec: number }): void => {
      if (leaderSent) return;
      const leader = honest().find((n) => {
        const s = n.peer.up ? n.peer.node?.status() : undefined;
        return s?.['round'] === 1 && s['leader'] === n.peer.id && s['state'] === 'collecting';
      });
      if (!leader) return;
      leaderSent = true;
      const voters = honest().filter((n) => voterIds.has(n.peer.id) && n.peer.up);
      for (const n of [leader, ...voters]) down(n);
      clock.schedule(away.leaderSec * 1000, () => boot(leader));
      clock.schedule(away.votersSec * 1000, () => voters.forEach(boot));
    };
    let maxDone = -1;
    let finished = false;
    let away: SimNode[] = [];
    clock.schedule(
      1000,
      () => {
        const live = honest().filter((n) => n.peer.up && n.peer.node);
        const at = live.map((n) => (n.peer.node as RoundCoordinator).currentRound());
        const top = Math.max(-1, ...at) - 1;
        for (let r = maxDone + 1; r <= top; r++) events.certifiedAt.set(r, clock.now());
        if (top > maxDone && top < o.rounds - 1) {
          for (const n of away) boot(n);
          const pool = shuffle(
            live.filter(() => true),
            rand,
          );
          away = pool.slice(0, Math.floor(o.churn * pool.length));
          for (const n of away) down(n);
          if (rand() < o.partition) {
            const ups = [...nodes.values()].filter((n) => n.peer.up).map((n) => n.peer.id);
            net.partition(shuffle(ups, rand).slice(0, Math.max(1, Math.floor(ups.length / 5))), o.partitionSec * 1000);
            events.partitions++;
          }
        }
        maxDone = Math.max(maxDone, top);
        if (o.leaderAway && maxDone >= 0) sendLeaderAway(o.leaderAway);
        if (top >= o.rounds - 1 && away.length > 0) {
          // The last round: everyone comes back and catches up before the end.
          for (const n of away) boot(n);
          away = [];
          return;
        }
        finished = at.length > 0 && at.every((r) => r >= o.rounds);
      },
      1000,
    );
    await clock.run(() => finished, clock.now() + o.maxSimSec * 1000);
    const simSec = (clock.now() - Date.UTC(2026, 0, 1)) / 1000;
    for (const n of nodes.values()) n.abort.abort();
    return summarize({
      o,
      nodes: [...nodes.values()].map((n) => ({
        id: n.peer.id,
        member: n.member,
        hostile: n.hostile,
        up: n.peer.up,
        node: n.peer.node,
        db: n.db,
      })),
      net,
      events,
      tally,
      simSec,
      wallSec: (performance.now() - wall0) / 1000,
      timers: clock.fired,
    });
  } finally {
    clock.uninstall();
    for (const n of nodes.values()) n.db.close();
    rmSync(root, { recursive: true, force: true });
  }
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}
