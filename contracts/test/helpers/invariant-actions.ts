import fc from 'fast-check';

/** The actors, the random actions and the governance model of invariants.test.ts (anvil account indexes). */
export const NODES = [1, 2, 3, 4, 5, 6];
export const LEADER = 9;
export const NOTARIES = [10, 11, 12, 13, 14, 15];
/**
 * A panel of 3 from 5 eligible leaves 2 for an appeal; rulings are due in 30 minutes and a heavy slash waits 15 minutes
 * (advances are 30..450 s), so sequences reach expiry, execution and lapsed appeals.
 */
export const PANEL = { panelSize: 3, slashDelay: 900n, adjudicationTimeout: 1800n };
export const FINAL = new Set([3n, 4n, 6n]); // Rejected, Expired, Executed
/** Registered nodes that sign each other receipts of maximal weight. */
export const COLLUDERS = [1, 2] as const;
/** A funded key that never registers: its receipts must never pass the ledger's checks. */
export const GRIEFER = 16;
/** Tokens one claim may carry in this run (Params.maxTokensPerClaim). */
export const TOKEN_CAP = 100_000n;
/** How often each kind of action must have succeeded over the whole run (scaled down for short runs). */
export const MIN_SUCCESSES: Record<string, number> = {
  commit: 10,
  reveal: 5,
  settle: 2,
  withdraw: 1,
  collude: 2,
  grief: 5,
  govern: 2,
  executeGovernance: 1,
  root: 2,
  claimLeaf: 2,
  postRoot: 2,
  finalizeRoot: 1,
  withdrawProof: 1,
};

/** Who may lead a round root here: the honest leader, or a colluder vouching for whom it likes. */
export const ROOT_LEADERS = [LEADER, ...COLLUDERS] as const;

/** INotaryPanel.Status.Upheld: a light offence is slashed at the ruling; a heavy one by ChallengeExecuted. */
export const UPHELD = 2;

export type Action =
  | { t: 'advance'; s: number }
  | { t: 'commit'; node: number; tokens: number; score: number }
  | { t: 'reveal'; node: number; bad: boolean }
  | { t: 'settle'; pick: number; batch: number }
  | { t: 'withdraw'; node: number }
  | { t: 'challenge'; notary: number; node: number; kind: number; low: number }
  | { t: 'draw'; pick: number }
  | { t: 'vote'; notary: number; seat: number; pick: number; uphold: boolean }
  | { t: 'expire'; pick: number }
  | { t: 'appeal'; pick: number; stranger: boolean }
  | { t: 'execute'; pick: number }
  | { t: 'payout'; who: number }
  | { t: 'noShow'; node: number; pick: number }
  | { t: 'collude'; tokens: number }
  | { t: 'grief'; node: number }
  | { t: 'govern'; change: number; factor: number }
  | { t: 'executeGovernance'; pick: number }
  | { t: 'root'; leader: number; members: number; tokens: number }
  | { t: 'claimLeaf'; pick: number; leaf: number }
  | { t: 'postRoot'; pick: number; settler: number; honest: boolean; late: boolean }
  | { t: 'finalizeRoot'; pick: number; late: boolean }
  | { t: 'withdrawProof'; node: number };

const pickOf = (n: number) => fc.integer({ min: 0, max: n - 1 });
export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('advance' as const), s: fc.integer({ min: 30, max: 450 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('commit' as const),
      node: fc.constantFrom(...NODES),
      tokens: fc.integer({ min: 0, max: 100_000 }),
      score: fc.integer({ min: 0, max: 1_000_000 }),
    }),
  },
  { weight: 7, arbitrary: fc.record({ t: fc.constant('reveal' as const), node: fc.constantFrom(...NODES), bad: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('settle' as const), pick: pickOf(1000), batch: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('withdraw' as const), node: fc.constantFrom(...NODES) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('challenge' as const),
      notary: fc.constantFrom(...NOTARIES),
      node: fc.constantFrom(...NODES),
      kind: fc.integer({ min: 0, max: 4 }), // Claim, Reveal, Registration, Round, Settlement
      low: fc.integer({ min: 0, max: 4 }), // 0: a deposit one wei short
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('draw' as const), pick: pickOf(1000) }) },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('vote' as const),
      notary: fc.constantFrom(...NOTARIES),
      seat: fc.integer({ min: -2, max: 5 }), // < 0: the random notary; else a seat of the current panel
      pick: pickOf(1000),
      uphold: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('expire' as const), pick: pickOf(1000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('appeal' as const), pick: pickOf(1000), stranger: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('execute' as const), pick: pickOf(1000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('payout' as const), who: fc.constantFrom(...NOTARIES, ...NODES) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('noShow' as const), node: fc.constantFrom(...NODES), pick: pickOf(1000) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('collude' as const), tokens: fc.integer({ min: 0, max: 2 * Number(TOKEN_CAP) }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('grief' as const), node: fc.constantFrom(...NODES) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('govern' as const),
      change: fc.integer({ min: 0, max: 3 }),
      factor: fc.integer({ min: 1, max: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('executeGovernance' as const), pick: pickOf(1000) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('root' as const),
      leader: pickOf(ROOT_LEADERS.length),
      members: fc.integer({ min: 1, max: 2 ** NODES.length - 1 }), // which NODES the leader vouches for
      tokens: fc.integer({ min: 0, max: Number(TOKEN_CAP) + 1 }), // TOKEN_CAP + 1: a root over the cap, refused
    }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('claimLeaf' as const), pick: pickOf(1000), leaf: pickOf(1000) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('postRoot' as const),
      pick: pickOf(1000),
      settler: fc.constantFrom(...NODES),
      honest: fc.boolean(), // false: the settler credits itself the per-node cap on top of the current root
      late: fc.boolean(), // the settler comes once the epoch's challenge window is over (time moves there first)
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('finalizeRoot' as const), pick: pickOf(1000), late: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('withdrawProof' as const), node: fc.constantFrom(...NODES) }) },
);

/** The governed values the governor actor changes, read back after every action. */
export const GOVERNED = ['epochPool', 'dailyCap', 'minNodeBond', 'challengerShareBps'] as const;
export type Governed = Record<(typeof GOVERNED)[number], bigint>;

/** A parameter change the governor scheduled in the timelock: when it may run, and what it sets if it does. */
export interface Scheduled {
  data: string;
  salt: string;
  readyAt: bigint;
  apply: (g: Governed) => Governed;
}
