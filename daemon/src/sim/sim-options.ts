import type { DilocoOptions } from '../diloco/trainer-jobs.js';
import type { HostileKind } from './hostile.js';
import type { NetParams } from './sim-network.js';
import type { SimTrainerTimes } from './sim-trainer.js';

export interface SimOptions {
  nodes: number;
  /** How many of the nodes are registered members (train, lead, vote); the rest follow certified outcomes. 0: all. */
  members: number;
  /** How many of the members do not train (storage nodes: they only vote). */
  voters: number;
  rounds: number;
  seed: number;
  /** Fraction of the members that are hostile (at least one when > 0), kinds in HOSTILE_ORDER, in turn. */
  hostile: number;
  /** Exactly these hostile members instead (one per entry). */
  hostileKinds?: HostileKind[];
  /** Fraction of the honest members that go down when a round is certified; they come back one round later. */
  churn: number;
  /** Chance, when a round is certified, that a random 20% of the nodes is cut off for partitionSec. */
  partition: number;
  partitionSec: number;
  net: NetParams;
  times: SimTrainerTimes;
  /** Round options over the node defaults (roundTimeoutSec, announceGraceSec, ...). */
  diloco: Partial<DilocoOptions>;
  /** Gives up after this much simulated time. */
  maxSimSec: number;
  /**
   * The leader of round 1 goes down as soon as it announced, with every member that does not train: it comes back
   * `leaderSec` later (the trainers follow its successor by then), they `votersSec` later (none saw it go).
   */
  leaderAway?: { leaderSec: number; votersSec: number };
}

export const SIM_DEFAULTS: SimOptions = {
  nodes: 20,
  members: 0,
  voters: 0,
  rounds: 3,
  seed: 1,
  hostile: 0.02,
  churn: 0.05,
  partition: 0,
  partitionSec: 60,
  net: { latencyMs: 50, loss: 0.01, rpcTimeoutMs: 10_000, blobBytes: 1_000_000, mbps: 1000, staleMs: 30_000 },
  times: { trainSec: 60, spotCheckSec: 0.5, mergeSec: 1, mergePerGradSec: 0.01 },
  diloco: {},
  maxSimSec: 6 * 3600,
};

/** SimOptions, each field (and each link and trainer time) defaulted from SIM_DEFAULTS. */
export type SimInput = Partial<Omit<SimOptions, 'net' | 'times'>> & { net?: Partial<NetParams>; times?: Partial<SimTrainerTimes> };
