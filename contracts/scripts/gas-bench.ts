/**
 * Gas per register, commit, reveal, settle (10 and 100 claims in one epoch) and withdraw, measured on a real anvil
 * in one run, beside two reference calls measured in the same run (a plain ETH transfer and an ERC-20 transfer of
 * the reward token), and the number of claims one settle call fits in a 30M block gas limit. The same epoch of 100
 * claims is then run with a round root instead of receipts (one commitRound by the leader, one claimRound per node).
 * Usage: npm run contracts:build && node dist/contracts/scripts/gas-bench.js [--json]
 */
import type { TransactionReceipt } from 'ethers';
import { buildRoundTree, roundClaimTuple, roundLeafHash, settlementLeafHash, type RoundLeaf } from '../../daemon/src/chain/round-tree.js';
import { increaseTime, startAnvil } from '../test/helpers/anvil.js';
import {
  commitClaim,
  deployFixture,
  makeReceipt,
  nextEpoch,
  register,
  revealClaim,
  signed,
  settlementBasis,
  timeTo,
  windowsOf,
  type Fixture,
} from '../test/helpers/fixture.js';

const BLOCK_GAS_LIMIT = 30_000_000n;

async function gasOf(p: Promise<{ wait(): Promise<TransactionReceipt | null> }>): Promise<bigint> {
  const r = await (await p).wait();
  return r!.gasUsed;
}

/** Runs one epoch with `n` claims (nodes 1..n, leader = last account) and returns per-step gas. */
async function epochWith(f: Fixture, n: number, leader: number): Promise<{ commit: bigint; reveal: bigint; settleAll: bigint }> {
  const e = await nextEpoch(f);
  const claims = [];
  for (let i = 1; i <= n; i++) claims.push(await signed(f, makeReceipt(f, i, leader, e), i, leader));
  let commitGas = 0n;
  for (let i = 1; i <= n; i++) {
    const before = await f.provider.getBlockNumber();
    await commitClaim(f, i, claims[i - 1]!);
    const blk = await f.provider.getBlock(before + 1, true);
    if (i === 1) commitGas = (await f.provider.getTransactionReceipt(blk!.transactions[0]!))!.gasUsed;
  }
  const w = await windowsOf(f, e);
  await timeTo(f, w.reveal);
  let revealGas = 0n;
  for (let i = 1; i <= n; i++) {
    const before = await f.provider.getBlockNumber();
    await revealClaim(f, i, claims[i - 1]!);
    if (i === 2) {
      const blk = await f.provider.getBlock(before + 1, true);
      revealGas = (await f.provider.getTransactionReceipt(blk!.transactions[0]!))!.gasUsed;
    }
  }
  await timeTo(f, w.settle);
  const settleAll = await gasOf(f.c.ledger.getFunction('settle')(e, n, { gasLimit: BLOCK_GAS_LIMIT }));
  return { commit: commitGas, reveal: revealGas, settleAll };
}

/** The leaves of a round of `leader` in epoch `e` with nodes 1..n, each with the default receipt's values. */
function roundOf(f: Fixture, n: number, leader: number, e: bigint, round: bigint): RoundLeaf[] {
  return Array.from({ length: n }, (_, k) => {
    const r = makeReceipt(f, k + 1, leader, e);
    return { leader: r.leader, epoch: e, round, index: k, node: r.node, tokens: r.tokens, score: r.score, gradientHash: r.gradientHash };
  });
}

/** Runs one epoch where the leader commits one root of `n` contributions and each node claims its leaf. */
async function epochWithRoot(
  f: Fixture,
  n: number,
  leader: number,
): Promise<{ commitRound: bigint; claimRound: bigint; settleAll: bigint }> {
  const e = await nextEpoch(f);
  const leaves = roundOf(f, n, leader, e, 1n);
  const hashes = leaves.map((l) => roundLeafHash(l, f.chainId, f.deployment.addresses.ledger));
  const tree = buildRoundTree(hashes);
  const commitRound = await gasOf(f.as(leader).ledger.getFunction('commitRound')(e, 1n, tree.root, n, 1000n));
  const w = await windowsOf(f, e);
  await timeTo(f, w.reveal);
  let total = 0n;
  for (let i = 1; i <= n; i++) {
    const l = leaves[i - 1]!;
    total += await gasOf(f.as(i).ledger.getFunction('claimRound')(roundClaimTuple(l), tree.proof(hashes[i - 1]!)));
  }
  await timeTo(f, w.settle);
  const settleAll = await gasOf(f.c.ledger.getFunction('settle')(e, n, { gasLimit: BLOCK_GAS_LIMIT }));
  return { commitRound, claimRound: total / BigInt(n), settleAll };
}

/**
 * Runs one epoch settled by a Merkle root: the leader commits one root of `n` contributions, nobody claims, a settler
 * posts the cumulative (node, amount) root, it is finalized after its challenge period, and one node withdraws.
 */
async function epochWithSettlement(f: Fixture, n: number, leader: number): Promise<{ post: bigint; finalize: bigint; withdraw: bigint }> {
  await increaseTime(f.provider, 86_400); // a fresh day: the earlier epochs used up the daily cap
  const e = await nextEpoch(f);
  const leaves = roundOf(f, n, leader, e, 2n);
  const roundTree = buildRoundTree(leaves.map((l) => roundLeafHash(l, f.chainId, f.deployment.addresses.ledger)));
  await gasOf(f.as(leader).ledger.getFunction('commitRound')(e, 2n, roundTree.root, n, 1000n));
  await timeTo(f, (await windowsOf(f, e)).settle);
  const each = f.p.epochPool / BigInt(2 * n);
  const hashes = leaves.map((l) => settlementLeafHash(l.node, each, f.chainId, f.deployment.addresses.ledger));
  const tree = buildRoundTree(hashes);
  const post = await gasOf(
    f.as(leader).ledger.getFunction('postSettlement')(e, tree.root, each * BigInt(n), ...(await settlementBasis(f, e))),
  );
  await increaseTime(f.provider, Number(f.p.challengeWindow));
  const finalize = await gasOf(f.c.ledger.getFunction('finalizeSettlement')(e));
  const withdraw = await gasOf(f.as(1).ledger.getFunction('withdrawCumulative')(each, tree.proof(hashes[0]!)));
  return { post, finalize, withdraw };
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const N = 100;
  const anvil = await startAnvil({ accounts: N + 3, blockGasLimit: BLOCK_GAS_LIMIT });
  try {
    const f = await deployFixture(anvil);
    const leader = N + 1;
    const reg: bigint[] = [];
    for (let i = 1; i <= leader; i++) {
      const before = await f.provider.getBlockNumber();
      await register(f, i, i % 5);
      if (i <= 3) {
        const blk = await f.provider.getBlock(before + 1, true);
        reg.push((await f.provider.getTransactionReceipt(blk!.transactions[0]!))!.gasUsed);
      }
    }
    const e10 = await epochWith(f, 10, leader);
    const e100 = await epochWith(f, 100, leader);
    const roots = await epochWithRoot(f, 100, leader);
    const withdrawFirst = await gasOf(f.as(1).ledger.getFunction('withdraw')());
    const withdrawAgain = await epochWith(f, 1, leader).then(() => gasOf(f.as(1).ledger.getFunction('withdraw')()));
    const ethTransfer = await gasOf(f.wallets[2]!.sendTransaction({ to: f.wallets[3]!.address, value: 1n }));
    await f
      .as(2)
      .ledger.getFunction('withdraw')()
      .then((t: { wait(): Promise<unknown> }) => t.wait());
    const erc20Transfer = await gasOf(f.as(2).token.getFunction('transfer')(f.wallets[3]!.address, 1n));
    const merkle = await epochWithSettlement(f, 100, leader); // after the withdrawals: its own warms node 1's balance
    const perClaim = (e100.settleAll - e10.settleAll) / 90n;
    const fixed = e10.settleAll - 10n * perClaim;
    const maxClaims = (BLOCK_GAS_LIMIT - fixed) / perClaim;
    const rows: [string, bigint][] = [
      ['register (first node)', reg[0]!],
      ['register (later node)', reg[2]!],
      ['commit', e100.commit],
      ['reveal (2 EIP-712 signatures)', e100.reveal],
      ['settle, 10 claims (one call)', e10.settleAll],
      ['settle, 100 claims (one call)', e100.settleAll],
      ['settle, marginal gas per claim', perClaim],
      ['commitRound (one root of 100 contributions)', roots.commitRound],
      ['claimRound (mean of 100, proofs of 6-7 hashes)', roots.claimRound],
      ['settle, 100 round claims (one call)', roots.settleAll],
      ['postSettlement (cumulative root of 100 nodes)', merkle.post],
      ['finalizeSettlement (mints the epoch)', merkle.finalize],
      ['withdrawCumulative (proof of 7 hashes)', merkle.withdraw],
      ['withdraw (first ever, cold balance)', withdrawFirst],
      ['withdraw (again)', withdrawAgain],
      ['reference: ETH transfer', ethTransfer],
      ['reference: ERC-20 transfer (MAG)', erc20Transfer],
    ];
    const perNodeClaim = e100.commit + e100.reveal + perClaim;
    // With roots: a node's claim, its settle share, and its share of the leader's commit (rounds of 100).
    const perRootClaim = roots.claimRound + perClaim + roots.commitRound / 100n;
    // With roots and Merkle settlement nobody claims: per epoch, one commitRound per 100 contributions and one
    // settlement (post + finalize); withdrawals are cumulative, made when a node wants them.
    const merkleEpoch = 100n * roots.commitRound + merkle.post + merkle.finalize;
    if (json) {
      process.stdout.write(
        JSON.stringify(
          {
            rows: Object.fromEntries(rows.map(([k, v]) => [k, Number(v)])),
            perNodeClaim: Number(perNodeClaim),
            maxClaimsPerSettleIn30M: Number(maxClaims),
            claimsPer30MBlock: Number(BLOCK_GAS_LIMIT / perNodeClaim),
            perRootClaim: Number(perRootClaim),
            rootClaimsPer30MBlock: Number(BLOCK_GAS_LIMIT / perRootClaim),
            merkleEpochOf10000: Number(merkleEpoch),
          },
          null,
          2,
        ) + '\n',
      );
      return;
    }
    process.stdout.write('| operation | gas | x ERC-20 transfer |\n|---|---:|---:|\n');
    for (const [k, v] of rows) process.stdout.write(`| ${k} | ${v} | ${(Number(v) / Number(erc20Transfer)).toFixed(2)} |\n`);
    process.stdout.write(
      `\ncommit + reveal + settle share per claim: ${perNodeClaim} gas (${(Number(perNodeClaim) / Number(erc20Transfer)).toFixed(2)} x ERC-20 transfer)\n`,
    );
    process.stdout.write(`settle fixed part ~${fixed} gas; one settle call fits ${maxClaims} claims in a ${BLOCK_GAS_LIMIT} gas block\n`);
    const perEpoch = perNodeClaim * 10_000n;
    process.stdout.write(
      `claims (commit + reveal + settle share) per ${BLOCK_GAS_LIMIT} gas block: ${BLOCK_GAS_LIMIT / perNodeClaim}; ` +
        `one epoch of 10,000 claims: ${perEpoch} gas = ${(Number(perEpoch) / Number(BLOCK_GAS_LIMIT)).toFixed(1)} full blocks\n`,
    );
    process.stdout.write(
      `with round roots and Merkle settlement: one epoch of 10,000 contributions (100 roots of 100, one settlement): ` +
        `${merkleEpoch} gas = ${(Number(merkleEpoch) / Number(BLOCK_GAS_LIMIT)).toFixed(2)} full blocks, ` +
        `${(Number(merkleEpoch) / 10_000).toFixed(0)} gas per contribution; each withdrawal ${merkle.withdraw} gas, whenever the node wants\n`,
    );
    const perRootEpoch = perRootClaim * 10_000n;
    process.stdout.write(
      `with round roots (rounds of 100): ${perRootClaim} gas per claim (${(Number(perRootClaim) / Number(erc20Transfer)).toFixed(2)} x ERC-20 ` +
        `transfer, ${(Number(perRootClaim) / Number(perNodeClaim)).toFixed(2)} x receipts); ${BLOCK_GAS_LIMIT / perRootClaim} claims per block; ` +
        `one epoch of 10,000 claims: ${perRootEpoch} gas = ${(Number(perRootEpoch) / Number(BLOCK_GAS_LIMIT)).toFixed(1)} full blocks\n`,
    );
  } finally {
    await anvil.stop();
  }
}

await main();
