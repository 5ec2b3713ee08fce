import type { StateDb } from '../db/database.js';
import type { RoundCoordinator } from '../diloco/coordinator.js';
import type { Certificate } from '../diloco/messages.js';
import { proposalDigest } from '../diloco/statements.js';
import { HOSTILE_KINDS, type HostileKind, type HostileTally } from './hostile.js';
import type { SimNetwork } from './sim-network.js';
import type { SimOptions } from './sim-options.js';

/** What the simulation saw happen, from the nodes' own warnings and its round watch. */
export interface SimEvents {
  refusals: { node: string; sender: string; message: string; reason: string }[];
  failovers: { node: string; round: number; leader: string; reason: string }[];
  /** When the first honest member saw round r certified (simulated ms). */
  certifiedAt: Map<number, number>;
  churned: number;
  partitions: number;
}

export interface SimReport {
  nodes: number;
  members: number;
  hostile: Partial<Record<HostileKind, number>>;
  roundsAttempted: number;
  roundsCompleted: number;
  merged: number;
  abandoned: number;
  /** Simulated seconds of each completed round (the first counts from the start: genesis and the start delay). */
  roundSec: number[];
  simSec: number;
  wallSec: number;
  timers: number;
  perNodeRound: { sent: number; received: number; bytes: number; maxSentNode: number; maxBytesNode: number; cpuMs: number };
  byKind: Record<string, number>;
  /** Distinct (round, leader) given up on by some honest member, by reason. */
  failovers: Record<string, number>;
  /** Leaders that stepped down in a round because the other trainers had given up on them. */
  stepDowns: number;
  /** Refusals of hostile members' messages by honest nodes: "kind message/reason" -> count. */
  hostileRefused: Record<string, number>;
  /** Refusals of honest members' messages (lag, churn, partitions): "message/reason" -> count. */
  honestRefused: Record<string, number>;
  /** Hostile gradients (poison, oversized, tokens, withheld) found in a certified merge. Must be 0. */
  hostileMerged: number;
  falseAnnouncementsAccepted: number;
  /** Every honest live node (member or follower) ended on the same latest and the same certified lineage. */
  agree: boolean;
  /** Honest members up at the end. */
  honestLive: number;
  /** Nodes up at the end that only follow certified outcomes (not members). */
  followersLive: number;
  churned: number;
  partitions: number;
}

interface NodeEnd {
  id: string;
  member: boolean;
  hostile: HostileKind | undefined;
  up: boolean;
  node: RoundCoordinator | undefined;
  db: StateDb;
}

export function summarize(d: {
  o: SimOptions;
  nodes: NodeEnd[];
  net: SimNetwork;
  events: SimEvents;
  tally: HostileTally;
  simSec: number;
  wallSec: number;
  timers: number;
}): SimReport {
  const { o, nodes, net, events } = d;
  const hostileOf = new Map(nodes.filter((n) => n.hostile).map((n) => [n.id, n.hostile as HostileKind]));
  // Members and the nodes that only follow certified outcomes alike: all must end on the same lineage.
  const honestLive = nodes.filter((n) => !n.hostile && n.up && n.node);
  const membersLive = honestLive.filter((n) => n.member);
  const lineage = (n: NodeEnd): Certificate[] => (n.node as RoundCoordinator).onLineageRequest('sim', -1, 64);
  const latest = (n: NodeEnd) =>
    (n.db.prepare('SELECT sha256 FROM diloco_latest WHERE id = 1').get() as { sha256: string } | undefined)?.sha256;
  const fingerprint = (n: NodeEnd) =>
    `${latest(n)}|${lineage(n)
      .map((c) => proposalDigest(c.proposal).toString('hex'))
      .join(',')}`;
  const prints = new Set(honestLive.map(fingerprint));
  const ref = membersLive[0] ? lineage(membersLive[0]) : [];
  const completed = ref.filter((c) => c.proposal.round < o.rounds);
  const gradientKinds = new Set<HostileKind>(['poison', 'oversized', 'tokens', 'withhold']);
  // A leader's own gradient never travels (it is not oversized, mislabelled or withheld), but a poisoned one must
  // still be caught, by the member that checks it.
  const hostileMerged = completed
    .flatMap((c) => c.proposal.contributions.map((s) => ({ s, leader: c.proposal.leader })))
    .filter(({ s, leader }) => {
      const kind = hostileOf.get(s.nodeId);
      return kind !== undefined && gradientKinds.has(kind) && (kind === 'poison' || s.nodeId !== leader);
    }).length;

  const times = [...events.certifiedAt.entries()].filter(([r]) => r < o.rounds).sort((a, b) => a[0] - b[0]);
  const start = Date.UTC(2026, 0, 1);
  const roundSec = times.map(([, t], i) => (t - (i === 0 ? start : (times[i - 1] as [number, number])[1])) / 1000);

  const stats = [...net.stats.values()];
  const rounds = Math.max(1, completed.length);
  const per = (x: number) => x / nodes.length / rounds;
  const sum = (f: (s: (typeof stats)[number]) => number) => stats.reduce((a, s) => a + f(s), 0);

  const failovers: Record<string, number> = {};
  // Leaders that gave up on themselves (the others had moved on while they were away): counted apart, since the
  // failover of the same round and leader is counted once, under the first node's reason.
  const stepDowns = events.failovers.filter((f) => f.node === f.leader && !hostileOf.has(f.node)).length;
  const seen = new Set<string>();
  for (const f of events.failovers) {
    if (hostileOf.has(f.node) || seen.has(`${f.round}:${f.leader}`)) continue;
    seen.add(`${f.round}:${f.leader}`);
    failovers[f.reason] = (failovers[f.reason] ?? 0) + 1;
  }
  const hostileRefused: Record<string, number> = {};
  const honestRefused: Record<string, number> = {};
  for (const r of events.refusals) {
    if (hostileOf.has(r.node)) continue; // what hostile nodes refuse is not the point
    const kind = hostileOf.get(r.sender);
    const key = kind ? `${kind} ${r.message}/${r.reason}` : `${r.message}/${r.reason}`;
    const into = kind ? hostileRefused : honestRefused;
    into[key] = (into[key] ?? 0) + 1;
  }
  const hostile: Partial<Record<HostileKind, number>> = {};
  for (const k of hostileOf.values()) hostile[k] = (hostile[k] ?? 0) + 1;
  return {
    nodes: nodes.length,
    members: nodes.filter((n) => n.member).length,
    hostile,
    roundsAttempted: o.rounds,
    roundsCompleted: completed.length,
    merged: completed.filter((c) => c.proposal.merged).length,
    abandoned: completed.filter((c) => !c.proposal.merged).length,
    roundSec,
    simSec: d.simSec,
    wallSec: d.wallSec,
    timers: d.timers,
    perNodeRound: {
      sent: per(sum((s) => s.sent)),
      received: per(sum((s) => s.received)),
      bytes: per(sum((s) => s.bytesOut + s.bytesIn)),
      maxSentNode: Math.max(...stats.map((s) => s.sent)) / rounds,
      maxBytesNode: Math.max(...stats.map((s) => s.bytesOut + s.bytesIn)) / rounds,
      cpuMs: per(sum((s) => s.cpuMs)),
    },
    byKind: Object.fromEntries(net.byKind),
    failovers,
    stepDowns,
    hostileRefused,
    honestRefused,
    hostileMerged,
    falseAnnouncementsAccepted: d.tally.falseAnnouncementsAccepted,
    agree: membersLive.length > 0 && prints.size === 1,
    honestLive: membersLive.length,
    followersLive: honestLive.length - membersLive.length,
    churned: events.churned,
    partitions: events.partitions,
  };
}

/** The expected refusal of each hostile kind (undefined: answered by the round going on without it). */
export function expectedRefusal(kind: HostileKind): string | undefined {
  const r = HOSTILE_KINDS[kind].refusal;
  return r && `${kind} ${r.message}/${r.reason}`;
}

const q = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))] as number;
};

const counts = (x: Record<string, number>) =>
  Object.entries(x)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '-';

/** The report as table rows (markdown) and the detail lines under them. */
export function formatReports(reports: SimReport[]): string {
  const head =
    '| nodes (members, hostile) | rounds done / tried (merged) | sim s per round: median, p90 | msgs sent per node per round (max node) | MB per node per round (max node) | handler CPU ms per node per round | failovers | honest agree on latest | wall s |';
  const rows = reports.map((r) => {
    const h = Object.values(r.hostile).reduce((a, b) => a + b, 0);
    const p = r.perNodeRound;
    const f = Object.values(r.failovers).reduce((a, b) => a + b, 0);
    return `| ${r.nodes} (${r.members}, ${h}) | ${r.roundsCompleted} / ${r.roundsAttempted} (${r.merged}) | ${q(r.roundSec, 0.5).toFixed(1)}, ${q(r.roundSec, 0.9).toFixed(1)} | ${p.sent.toFixed(1)} (${p.maxSentNode.toFixed(0)}) | ${(p.bytes / 1e6).toFixed(2)} (${(p.maxBytesNode / 1e6).toFixed(1)}) | ${p.cpuMs.toFixed(1)} | ${f} | ${r.agree ? 'yes' : 'NO'} (${r.honestLive}${r.followersLive ? ` + ${r.followersLive} followers` : ''} live) | ${r.wallSec.toFixed(1)} |`;
  });
  const details = reports.flatMap((r) => [
    `\n${r.nodes} nodes: hostile ${counts(r.hostile as Record<string, number>)}; churned ${r.churned}, partitions ${r.partitions}; ${r.timers} timer events, ${r.simSec.toFixed(0)} simulated s`,
    `  hostile actions refused: ${counts(r.hostileRefused)}`,
    `  hostile gradients merged: ${r.hostileMerged}; false announcements accepted: ${r.falseAnnouncementsAccepted}`,
    `  failovers by reason: ${counts(r.failovers)}`,
    `  honest messages refused: ${counts(r.honestRefused)}`,
    `  messages by RPC: ${counts(r.byKind)}`,
  ]);
  return [head, '|---|---|---|---|---|---|---|---|---|', ...rows, ...details].join('\n');
}
