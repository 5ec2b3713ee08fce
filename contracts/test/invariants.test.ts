import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { hexlify, randomBytes, type TransactionReceipt } from 'ethers';
import { increaseTime, revert, snapshot, startAnvil, type Anvil } from './helpers/anvil.js';
import {
  commitClaim,
  deployFixture,
  joinNotary,
  makeReceipt,
  register,
  revealClaim,
  revertName,
  sendAndWait,
  signed,
  type Fixture,
  type Signed,
} from './helpers/fixture.js';
import { receiptTuple } from '../../daemon/src/chain/receipt.js';

/**
 * Random action sequences against the real contracts on anvil. After every action the invariants of the issue are
 * checked from chain state: paid <= pool per epoch, the daily cap, no claim credited twice, slashing within bonds
 * with every slashed wei accounted for, and solvency of ledger, registry and panel. Actions that the contracts
 * refuse are fine as long as the refusal is one of our custom errors (never a panic or an unknown revert).
 */
// The suite runs a short version (about 3 minutes on a 2-core CI machine); `npm run fuzz:contracts` runs the long one.
const RUNS = Number(process.env.MAGNET_INVARIANT_RUNS ?? 12);
const ACTIONS = Number(process.env.MAGNET_INVARIANT_ACTIONS ?? 150);
// CI measured about 10 actions a second; allow four times that, and never less than 15 minutes.
const TIMEOUT_MS = Math.max(15 * 60_000, RUNS * ACTIONS * 400);
const NODES = [1, 2, 3, 4, 5, 6];
const LEADER = 9;
const NOTARIES = [10, 11, 12, 13];

type Action =
  | { t: 'advance'; s: number }
  | { t: 'commit'; node: number; tokens: number; score: number }
  | { t: 'reveal'; node: number; bad: boolean }
  | { t: 'settle'; pick: number; batch: number }
  | { t: 'withdraw'; node: number }
  | { t: 'challenge'; notary: number; node: number; kind: number }
  | { t: 'vote'; notary: number; pick: number; uphold: boolean }
  | { t: 'expire'; pick: number }
  | { t: 'noShow'; node: number; pick: number };

const pickOf = (n: number) => fc.integer({ min: 0, max: n - 1 });
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('advance' as const), s: fc.integer({ min: 30, max: 450 }) }) },
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
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('challenge' as const),
      notary: fc.constantFrom(...NOTARIES),
      node: fc.constantFrom(...NODES),
      kind: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('vote' as const),
      notary: fc.constantFrom(...NOTARIES),
      pick: pickOf(1000),
      uphold: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('expire' as const), pick: pickOf(1000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('noShow' as const), node: fc.constantFrom(...NODES), pick: pickOf(1000) }) },
);

describe('contract invariants under random action sequences', () => {
  let anvil: Anvil;
  let f: Fixture;
  let base: string;
  let actionsRun = 0;
  const succeeded = new Map<string, number>();
  let current = '';
  before(async () => {
    anvil = await startAnvil();
    f = await deployFixture(anvil);
    for (const i of [...NODES, LEADER]) await register(f, i, i % 5, f.p.minNodeBond * BigInt(1 + (i % 3)));
    for (const i of NOTARIES) await joinNotary(f, i);
    base = await snapshot(f.provider);
  });
  after(async () => {
    process.stdout.write(`# invariant actions run: ${actionsRun}; succeeded by kind: ${JSON.stringify(Object.fromEntries(succeeded))}\n`);
    await anvil?.stop();
  });

  it(`holds over ${RUNS} sequences of ${ACTIONS} actions`, { timeout: TIMEOUT_MS }, async () => {
    const c = f.c;
    const addr = (i: number) => f.wallets[i]!.address;
    const bondsAtStart = new Map<number, bigint>();
    for (const i of NODES) bondsAtStart.set(i, (await c.registry.getFunction('nodeOf')(addr(i))).bond as bigint);
    const g = async (ct: 'ledger' | 'registry' | 'panel' | 'token', fn: string, ...args: unknown[]) =>
      (await c[ct].getFunction(fn)(...args)) as bigint;

    await fc
      .assert(
        fc.asyncProperty(fc.array(actionArb, { minLength: ACTIONS, maxLength: ACTIONS }), async (actions) => {
          await revert(f.provider, base);
          base = await snapshot(f.provider);
          const pending = new Map<string, Signed>(); // `${epoch}:${node}` -> signed receipt committed
          const starts = new Map<string, bigint>();
          const epochs = new Set<bigint>();
          const credited = new Set<string>();
          const challenges: number[] = [];
          let withdrawn = 0n;
          const run = async (fn: () => Promise<TransactionReceipt | null | void>) => {
            try {
              const r = await fn();
              succeeded.set(current, (succeeded.get(current) ?? 0) + 1);
              if (r) {
                for (const log of r.logs) {
                  const ev = c.ledger.interface.parseLog(log);
                  if (ev?.name === 'RewardCredited') {
                    const key = `${ev.args[0]}:${ev.args[1]}`;
                    assert.ok(!credited.has(key), `claim ${key} credited twice`);
                    credited.add(key);
                  }
                  if (ev?.name === 'RewardWithdrawn') withdrawn += ev.args[1] as bigint;
                }
              }
            } catch (err) {
              const name = revertName(err);
              assert.ok(
                name && /^(Ledger|Registry|Panel|AccessControl|MagnetToken)/.test(name),
                `unexpected failure: ${name ?? (err as Error).message}`,
              );
            }
          };
          const tx = (ct: 'ledger' | 'registry' | 'panel', who: number, fn: string, ...args: unknown[]) =>
            sendAndWait(f.as(who)[ct], fn, ...args);
          const pick = <T>(xs: T[], k: number): T | undefined => (xs.length === 0 ? undefined : xs[k % xs.length]);

          for (const a of actions) {
            actionsRun++;
            current = a.t;
            const epochNow = (await c.params.getFunction('currentEpoch')()) as bigint;
            switch (a.t) {
              case 'advance':
                await increaseTime(f.provider, a.s);
                break;
              case 'commit': {
                const s = await signed(
                  f,
                  makeReceipt(f, a.node, LEADER, epochNow, { tokens: BigInt(a.tokens), score: BigInt(a.score) }),
                  a.node,
                  LEADER,
                );
                await run(async () => {
                  await commitClaim(f, a.node, s);
                  pending.set(`${epochNow}:${a.node}`, s);
                  starts.set(`${epochNow}:${a.node}`, (await c.params.getFunction('epochStart')(epochNow)) as bigint);
                  epochs.add(epochNow);
                });
                break;
              }
              case 'reveal': {
                // Prefer the node's commit whose reveal window is open now, else its latest (then the reveal is refused).
                const t = BigInt((await f.provider.getBlock('latest'))!.timestamp);
                const openNow = [...pending.keys()].filter((k) => {
                  const opens = starts.get(k)! + f.p.commitWindow;
                  return t >= opens && t < opens + f.p.revealWindow;
                });
                const key = pick(openNow, a.node) ?? [...pending.keys()].reverse().find((k) => k.endsWith(`:${a.node}`));
                const who = key ? Number(key.split(':')[1]) : a.node;
                const s = key ? pending.get(key) : undefined;
                if (!s) break;
                await run(async () => {
                  if (a.bad)
                    return tx('ledger', who, 'reveal', s.r.epoch, receiptTuple(s.r), hexlify(randomBytes(32)), s.nodeSig, s.leaderSig);
                  await revealClaim(f, who, s);
                  pending.delete(key!);
                });
                break;
              }
              case 'settle': {
                const e = pick([...epochs], a.pick);
                if (e !== undefined) await run(() => tx('ledger', 0, 'settle', e, a.batch));
                break;
              }
              case 'withdraw':
                await run(() => tx('ledger', a.node, 'withdraw'));
                break;
              case 'challenge': {
                const e = pick([...epochs], a.notary) ?? epochNow;
                await run(async () => {
                  const r = await tx('panel', a.notary, 'challenge', a.kind, addr(a.node), e);
                  challenges.push(Number(((await c.panel.getFunction('challengeCount')()) as bigint) - 1n));
                  return r;
                });
                break;
              }
              case 'vote': {
                const id = pick(challenges, a.pick);
                if (id !== undefined) await run(() => tx('panel', a.notary, 'vote', id, a.uphold));
                break;
              }
              case 'expire': {
                const id = pick(challenges, a.pick);
                if (id !== undefined) await run(() => tx('panel', 7, 'expire', id));
                break;
              }
              case 'noShow': {
                const e = pick([...epochs], a.pick);
                if (e !== undefined) await run(() => tx('ledger', 8, 'reportNoShow', e, addr(a.node)));
                break;
              }
            }

            // ---- invariants (read in parallel; only settle changes an epoch's pool and paid) ----
            const regAddr = f.deployment.addresses.registry;
            const [
              supply,
              held,
              totalOwed,
              totalCredited,
              bonded,
              payouts,
              burned,
              slashed,
              regBalance,
              notaryBonds,
              notarySlashed,
              panelBalance,
            ] = await Promise.all([
              g('token', 'totalSupply'),
              g('token', 'balanceOf', f.deployment.addresses.ledger),
              g('ledger', 'totalOwed'),
              g('ledger', 'totalCredited'),
              g('registry', 'totalBonded'),
              g('registry', 'totalPayouts'),
              g('registry', 'totalBurned'),
              g('registry', 'totalSlashed'),
              f.provider.getBalance(regAddr),
              g('panel', 'totalNotaryBonds'),
              g('panel', 'totalNotarySlashed'),
              f.provider.getBalance(f.deployment.addresses.panel),
            ]);
            assert.equal(supply, totalCredited, 'only credited rewards are minted');
            assert.equal(held, totalOwed, 'ledger solvent: holds exactly what it owes');
            assert.equal(totalCredited, totalOwed + withdrawn, 'credited = owed + withdrawn');
            assert.equal(slashed, burned + payouts, 'every slashed wei burned or owed to a challenger');
            assert.equal(regBalance, bonded + payouts + burned, 'registry solvent');
            assert.equal(panelBalance, notaryBonds + notarySlashed, 'panel solvent');
            if (a.t === 'settle' || a.t === 'vote') {
              for (const e of epochs) {
                const [info, start] = await Promise.all([
                  c.ledger.getFunction('epochInfo')(e),
                  c.params.getFunction('epochStart')(e) as Promise<bigint>,
                ]);
                assert.ok((info.paid as bigint) <= (info.pool as bigint), `epoch ${e}: paid over pool`);
                assert.ok((info.pool as bigint) <= f.p.epochPool, `epoch ${e}: pool over epochPool`);
                assert.ok((await g('ledger', 'emittedOnDay', start / 86_400n)) <= f.p.dailyCap, `day of epoch ${e} over the daily cap`);
              }
            }
          }
          for (const i of NODES) {
            const bond = (await c.registry.getFunction('nodeOf')(addr(i))).bond as bigint;
            assert.ok(bond >= 0n && bond <= bondsAtStart.get(i)!, 'slashing never exceeds a bond');
          }
        }),
        {
          numRuns: RUNS,
          endOnFailure: true,
          // Replay a reported failure: MAGNET_INVARIANT_SEED=<seed> MAGNET_INVARIANT_PATH=<path>
          ...(process.env.MAGNET_INVARIANT_SEED
            ? { seed: Number(process.env.MAGNET_INVARIANT_SEED), path: process.env.MAGNET_INVARIANT_PATH }
            : {}),
        },
      )
      .catch((err: Error & { cause?: unknown }) => {
        throw new Error(`${err.message}\ncaused by: ${err.cause instanceof Error ? err.cause.stack : String(err.cause)}`);
      });
    assert.ok(actionsRun >= RUNS * ACTIONS);
  });
});
