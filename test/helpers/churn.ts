/**
 * A network of real daemons under churn (issue 18): trainers and storage nodes are the members (they train, vote and
 * hold shards), servers and light nodes are strangers that follow the certified rounds. After every certified round
 * a share of the live nodes leaves (a clean stop) and as many join: a member that left comes back under its own key
 * (the member list is fixed), a stranger is replaced by a new one with a new key. Once, a larger share is killed at
 * once (SIGKILL); killed members restart a minute later, killed strangers are replaced then. Used by the churn
 * benchmark (50 nodes) and its short version in the e2e tests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type PreparedHome,
  type RunningDaemon,
  membersArgs,
  prepareHomes,
  residentMemory,
  startDaemon,
  tempHome,
  testEnv,
} from './daemon.js';

export type ChurnKind = 'trainer' | 'storage' | 'server' | 'light';

export interface ChurnPlan {
  /** How many of each kind run at any time (trainers and storage nodes are the members). */
  counts: Record<ChurnKind, number>;
  /** Certified rounds to watch after the first one (each followed by churn, but the last). */
  rounds: number;
  /** Share of the live nodes that leave (and are replaced) after each certified round. */
  churn: number;
  /**
   * After the first watched round, the leader of the next one is among the leavers as soon as it announced: the
   * others give it up and follow its successor, and it comes back (30 s later) still leading in its own view.
   */
  leaderLeaves?: boolean;
  /** After which of the watched rounds (1-based) `killShare` of the live nodes are killed at once; 0: never. */
  killAfter: number;
  killShare: number;
  /** DiLoCo settings (the trainer's model, steps, timeouts); net settings added to the loopback ones. */
  diloco: Record<string, unknown>;
  net?: Record<string, unknown>;
  /** How long the whole run may take before it gives up (ms). */
  timeoutMs: number;
  /** Deterministic choice of who leaves and who is killed. */
  seed: number;
  log: (line: string) => void;
}

export interface ChurnReport {
  nodes: number;
  /** Certified rounds seen after the first, and the seconds each took (certificate to certificate, newest latest anywhere). */
  rounds: number;
  roundSeconds: number[];
  roundsPerHour: number;
  left: number;
  joined: number;
  killed: number;
  /** At the end: live nodes, and how many hold the same certified checkpoint for the last round watched. */
  live: number;
  onLatest: number;
  latestRound: number;
  /** Resident memory of the daemon processes (not their trainer subprocesses), sampled after every round, MiB. */
  rssMeanMiB: number;
  rssMaxMiB: number;
  startSeconds: number;
  /** Leaders back from away that found the others following their successor and stepped down (live nodes' logs). */
  stepDowns: number;
}

interface Node {
  kind: ChurnKind;
  /** Members have a prepared home and come back under it; strangers are new each time. */
  member?: PreparedHome;
  d: RunningDaemon;
  since: number;
}

interface Status {
  nodeId: string;
  diloco: {
    round: number;
    leader: string | null;
    state: string;
    latest: { sha256: string; round: number } | null;
    lastError: string | null;
  };
  listen: { p2p: string[] };
  net?: { peers: { state: string; member: boolean }[] };
}

/** How many live peers (members only, with `members`) a node's status lists. */
function livePeers(s: Status | undefined, members = false): number {
  return (s?.net?.peers ?? []).filter((p) => p.state === 'live' && (!members || p.member)).length;
}

/** mulberry32: the same seed picks the same leavers. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runChurn(plan: ChurnPlan): Promise<ChurnReport> {
  const rand = random(plan.seed);
  const pick = <T>(xs: T[], k: number): T[] => {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [a[i], a[j]] = [a[j] as T, a[i] as T];
    }
    return a.slice(0, k);
  };
  const memberHomes = {
    trainer: await prepareHomes(plan.counts.trainer),
    storage: await prepareHomes(plan.counts.storage),
  };
  const config = join(tempHome('magnet-churn-cfg-'), 'config.json');
  // Every node here shares 127.0.0.1: the per-IP-range limits that bound one operator's machines on the internet
  // (8 strangers, 200 calls/s per range) would bound the whole testnet, so they are raised for it.
  const net = { maxPeers: 256, maxPeersPerIpRange: 256, ipRatePerSecond: 20_000, ipBurst: 40_000, ...plan.net };
  writeFileSync(config, JSON.stringify({ diloco: { ...plan.diloco, maxRounds: 0 }, net }));
  const env = testEnv({ MAGNET_DILOCO: 'true', MAGNET_CPU_TRAINING: 'true' });
  const members = membersArgs([...memberHomes.trainer, ...memberHomes.storage]);
  const live: Node[] = [];
  const rss: number[] = [];
  const report = { left: 0, joined: 0, killed: 0 };

  const start = async (kind: ChurnKind, member: PreparedHome | undefined, bootstrap: string[]): Promise<Node> => {
    const d = await startDaemon({
      // A light node is one whose disk fails the SSD floors (a laptop, a small VPS): its tier allows nothing heavier.
      env: kind === 'light' ? { ...env, MAGNET_SSD_MIN_READ_MBPS: '1000000' } : env,
      home: member?.home,
      args: ['--config', config, ...members, '--role', kind, ...bootstrap.flatMap((b) => ['--bootstrap', b]), '--log-level', 'warn'],
      readyTimeoutMs: 120_000,
    });
    return { kind, member, d, since: Date.now() };
  };
  const status = (n: Node) => n.d.get<Status>('/status').catch(() => undefined);
  /** Two live nodes to bootstrap from (whoever is up: the first node may have left long ago). */
  const bootstraps = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const n of pick(live, 4)) {
      const s = await status(n);
      if (s?.listen.p2p[0]) out.push(s.listen.p2p[0]);
      if (out.length === 2) break;
    }
    return out;
  };

  const t0 = Date.now();
  try {
    // The first trainer, then everyone else four at a time (all at once would time the machine's start-up).
    const first = memberHomes.trainer[0] as PreparedHome;
    live.push(await start('trainer', first, []));
    const queue: [ChurnKind, PreparedHome | undefined][] = [
      ...memberHomes.trainer.slice(1).map((h) => ['trainer', h] as [ChurnKind, PreparedHome]),
      ...memberHomes.storage.map((h) => ['storage', h] as [ChurnKind, PreparedHome]),
      ...Array.from({ length: plan.counts.server }, () => ['server', undefined] as [ChurnKind, undefined]),
      ...Array.from({ length: plan.counts.light }, () => ['light', undefined] as [ChurnKind, undefined]),
    ];
    for (let i = 0; i < queue.length; i += 4) {
      const boot = await bootstraps();
      live.push(...(await Promise.all(queue.slice(i, i + 4).map(([k, h]) => start(k, h, boot)))));
    }
    const startSeconds = (Date.now() - t0) / 1000;
    const total = live.length;
    plan.log(`${total} daemons started in ${startSeconds.toFixed(0)} s`);

    /** The newest certified round any live node is on. */
    const newest = async (): Promise<{ round: number; sha256: string; on: number; of: number }> => {
      const all = (await Promise.all(live.map(status))).filter((s): s is Status => s !== undefined);
      const latest = all.map((s) => s.diloco.latest).filter((l) => l !== null);
      const top = latest.reduce((a, b) => (b.round > a.round ? b : a), { round: -1, sha256: '' });
      return { ...top, on: latest.filter((l) => l.sha256 === top.sha256).length, of: all.length };
    };
    const deadline = t0 + plan.timeoutMs;
    /** Members that left (and killed nodes) waiting to come back, each at its time: a killed stranger as a new one. */
    const comeBack: { kind: ChurnKind; member: PreparedHome | undefined; due: number }[] = [];
    const rejoinDue = async (): Promise<void> => {
      const due = comeBack.filter((c) => c.due <= Date.now());
      if (due.length === 0) return;
      for (const c of due) comeBack.splice(comeBack.indexOf(c), 1);
      const boot = await bootstraps();
      live.push(...(await Promise.all(due.map((c) => start(c.kind, c.member, boot)))));
      report.joined += due.length;
    };
    const waitRound = async (after: number): Promise<{ round: number; at: number }> => {
      for (;;) {
        const n = await newest();
        if (n.round > after) return { round: n.round, at: Date.now() };
        if (Date.now() > deadline) throw new Error(`no round after ${after} within the run's time (newest ${n.round})`);
        await rejoinDue();
        await new Promise((r) => setTimeout(r, 3000));
      }
    };
    /** The live node that leads round r and announced it (its state "collecting"), waiting up to a minute. */
    const announcedLeader = async (r: number): Promise<Node | undefined> => {
      for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((res) => setTimeout(res, 500))) {
        const all = await Promise.all(live.map(status));
        const i = all.findIndex((s) => s?.diloco.round === r && s.diloco.leader === s.nodeId && s.diloco.state === 'collecting');
        if (i >= 0) return live[i];
      }
      return undefined;
    };
    const sampleRss = () => {
      for (const n of live) if (n.d.proc.pid && n.d.proc.exitCode === null) rss.push(residentMemory(n.d.proc.pid).rss / 2 ** 20);
    };

    let { round, at } = await waitRound(-1); // the first merge: the trainers found each other
    plan.log(`round ${round} certified ${((at - t0) / 1000).toFixed(0)} s after the first start`);
    const roundSeconds: number[] = [];
    for (let k = 1; k <= plan.rounds; k++) {
      sampleRss();
      const leavers = pick(live, Math.round(plan.churn * total));
      if (k === 1 && plan.leaderLeaves) {
        const leader = await announcedLeader(round + 1);
        if (leader && !leavers.includes(leader))
          leavers.splice(
            Math.max(
              0,
              leavers.findIndex((n) => n.kind === 'trainer'),
            ),
            1,
            leader,
          );
        plan.log(
          leader ? `the leader of round ${round + 1} announced it and is among the leavers` : `no leader of round ${round + 1} seen`,
        );
      }
      for (const n of leavers) live.splice(live.indexOf(n), 1);
      await Promise.all(leavers.map((n) => n.d.stop(45_000)));
      report.left += leavers.length;
      // A stranger that leaves is replaced by a new one at once; a member comes back under its key 30 s later.
      const strangers = leavers.filter((n) => !n.member);
      const boot = await bootstraps();
      live.push(...(await Promise.all(strangers.map((n) => start(n.kind, undefined, boot)))));
      report.joined += strangers.length;
      comeBack.push(...leavers.filter((n) => n.member).map((n) => ({ kind: n.kind, member: n.member, due: Date.now() + 30_000 })));
      plan.log(
        `after round ${round}: ${leavers.length} left (${leavers.map((n) => n.kind).join(', ')}), ${strangers.length} new strangers joined`,
      );

      if (k === plan.killAfter) {
        const victims = pick(live, Math.round(plan.killShare * total));
        for (const v of victims) live.splice(live.indexOf(v), 1);
        await Promise.all(victims.map((v) => v.d.kill()));
        report.killed += victims.length;
        comeBack.push(...victims.map((v) => ({ kind: v.kind, member: v.member, due: Date.now() + 60_000 })));
        plan.log(`killed ${victims.length} at once (${victims.map((n) => n.kind).join(', ')}); they come back in 60 s`);
      }
      const next = await waitRound(round);
      roundSeconds.push((next.at - at) / 1000);
      plan.log(`round ${next.round} certified after ${((next.at - at) / 1000).toFixed(0)} s; ${live.length} nodes live`);
      ({ round, at } = next);
    }
    sampleRss();

    // Rounds go on meanwhile, so agreement is checked on the last round watched: every live node reaches it (a node
    // that joined last fetches it), then each one's certified outcome of that round must be the same checkpoint.
    const reached = async () =>
      (await Promise.all(live.map(status))).filter((s) => s?.diloco.latest && s.diloco.latest.round >= round).length;
    for (const until = Date.now() + 300_000; (await reached()) < live.length && Date.now() < until;)
      await new Promise((r) => setTimeout(r, 3000));
    const shas = await Promise.all(
      live.map((n) =>
        n.d.get<{ outcomes: { round: number; sha256: string }[] }>(`/diloco/outcomes?after=${round - 1}&limit=1`).then(
          (o) => o.outcomes.find((x) => x.round === round)?.sha256,
          () => undefined,
        ),
      ),
    );
    const counts = new Map<string, number>();
    for (const sha of shas) if (sha) counts.set(sha, (counts.get(sha) ?? 0) + 1);
    const end = { of: live.length, on: Math.max(0, ...counts.values()), round };
    const agreed = [...counts.entries()].find(([, k]) => k === end.on)?.[0];
    for (const [i, n] of live.entries()) {
      if (shas[i] === agreed) continue;
      const s = await status(n);
      plan.log(
        `not on the round-${round} checkpoint: a ${n.kind} up ${((Date.now() - n.since) / 1000).toFixed(0)} s, ` +
          `${shas[i] ? `holding another one (${shas[i]})` : `at round ${s?.diloco.latest?.round ?? 'none'}`}, last error ${s?.diloco.lastError ?? 'none'}, ` +
          `live peers ${livePeers(s)} (members ${livePeers(s, true)})`,
      );
      for (const line of n.d.output().trim().split('\n').slice(-4)) plan.log(`    ${line.slice(0, 400)}`);
    }
    const hours = roundSeconds.reduce((a, b) => a + b, 0) / 3600;
    return {
      nodes: total,
      rounds: roundSeconds.length,
      roundSeconds,
      roundsPerHour: roundSeconds.length / hours,
      ...report,
      live: end.of,
      onLatest: end.on,
      latestRound: end.round,
      rssMeanMiB: rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length),
      rssMaxMiB: Math.max(...rss),
      startSeconds,
      stepDowns: live.reduce((k, n) => k + n.d.output().split('gave up on this node as leader: stepping down').length - 1, 0),
    };
  } finally {
    await Promise.all(live.map((n) => n.d.kill()));
  }
}
