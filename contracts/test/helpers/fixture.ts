import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  Interface,
  Wallet,
  hexlify,
  parseEther,
  type Contract,
  type ContractTransactionResponse,
  type InterfaceAbi,
  type JsonRpcProvider,
  type TransactionReceipt,
} from 'ethers';
import { CONTRACT_NAMES, loadArtifact } from '../../../daemon/src/chain/artifacts.js';
import { deployAll, attach, type ChainContracts, type DeployOptions, type Deployment } from '../../../daemon/src/chain/deploy.js';
import { loadChainParams, type ChainParams } from '../../../daemon/src/chain/chain-params.js';
import { commitment, receiptTuple, signReceipt, type Receipt } from '../../../daemon/src/chain/receipt.js';
import { connectWallet } from '../../../daemon/src/chain/provider.js';
import { REPO_ROOT } from '../../../daemon/src/version.js';
import { mineAt, now, type Anvil } from './anvil.js';

/**
 * The repository's parameters with a smaller pool and cap so tests hit the cap quickly. The claim caps are lifted
 * (any uint64 of tokens, a whole pool per node) so the settlement arithmetic is tested over its full range; the
 * tests of the caps set them back with `over`.
 */
export function testParams(over: Partial<ChainParams> = {}): ChainParams {
  const p = loadChainParams(join(REPO_ROOT, 'config', 'reward-config.json'));
  return {
    ...p,
    epochPool: parseEther('1000'),
    dailyCap: parseEther('2500'),
    maxTokensPerClaim: 2n ** 64n - 1n,
    maxRewardShareBps: 10_000,
    ...over,
  };
}

export interface Fixture {
  anvil: Anvil;
  provider: JsonRpcProvider;
  deployment: Deployment;
  chainId: bigint;
  p: ChainParams;
  /** Contracts as the deployer (governor). */
  c: ChainContracts;
  wallets: Wallet[];
  /** Contracts connected as wallets[i]. */
  as(i: number): ChainContracts;
}

export async function deployFixture(anvil: Anvil, over: Partial<ChainParams> = {}, o: DeployOptions = {}): Promise<Fixture> {
  const p = testParams(over);
  const deployer = connectWallet(anvil.keys[0]!, anvil.provider);
  const deployment = await deployAll(deployer, p, undefined, o);
  const wallets = anvil.keys.map((k) => new Wallet(k, anvil.provider));
  const cache = new Map<number, ChainContracts>();
  return {
    anvil,
    provider: anvil.provider,
    deployment,
    chainId: BigInt(deployment.chainId),
    p,
    c: attach(deployment, deployer),
    wallets,
    as(i: number) {
      let hit = cache.get(i);
      if (!hit) cache.set(i, (hit = attach(deployment, connectWallet(anvil.keys[i]!, anvil.provider))));
      return hit;
    },
  };
}

/** 64-byte uncompressed public key (x || y) and the 8-byte nodeId the registry expects. */
export function keyAndNodeId(w: Wallet): { publicKey: string; nodeId: string } {
  const publicKey = '0x' + w.signingKey.publicKey.slice(4);
  const compressed = Buffer.from(w.signingKey.compressedPublicKey.slice(2), 'hex');
  const nodeId = '0x' + createHash('sha256').update(compressed).digest('hex').slice(0, 16);
  return { publicKey, nodeId };
}

export async function send(c: Contract, fn: string, ...args: unknown[]): Promise<void> {
  const r = await sendAndWait(c, fn, ...args);
  assert.equal(r.status, 1);
}

/**
 * Sends `fn` and waits for it to be mined. ethers checks a call by estimating it first, but anvil follows the wall
 * clock: when a window closes in the second between the estimate and the block, the transaction is mined and reverts,
 * and a receipt carries no revert data. Replaying the call on that block recovers the contract's own error.
 */
export async function sendAndWait(c: Contract, fn: string, ...args: unknown[]): Promise<TransactionReceipt> {
  const sent = (await c.getFunction(fn)(...args)) as ContractTransactionResponse;
  // The receipt is polled, not waited for: ethers' wait() listens for block numbers above the highest it has seen,
  // and after an evm_revert the chain's numbers repeat ones it saw, so a receipt missing at its first look was never
  // noticed (an invariant run hung 15 minutes on that).
  for (let tries = 0; ; tries++) {
    let receipt: TransactionReceipt | null;
    try {
      receipt = await sent.wait(0);
    } catch (err) {
      const failed = (err as { receipt?: TransactionReceipt }).receipt;
      if (!failed || !c.runner?.provider) throw err;
      // Throws the decoded revert when the replay reverts too; otherwise the original failure stands.
      await c.runner.provider.call({ from: sent.from, to: sent.to, data: sent.data, blockTag: failed.blockNumber });
      throw err;
    }
    if (receipt) return receipt;
    if (tries >= 1200) throw new Error(`${fn}: transaction ${sent.hash} was not mined within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function register(f: Fixture, i: number, tier = 1, bond = f.p.minNodeBond): Promise<void> {
  const { publicKey, nodeId } = keyAndNodeId(f.wallets[i]!);
  await send(f.as(i).registry, 'register', publicKey, nodeId, tier, { value: bond });
}

export async function joinNotary(f: Fixture, i: number, bond = f.p.minNotaryBond): Promise<void> {
  await send(f.as(i).panel, 'join', { value: bond });
}

/** Opens a challenge as notary `i` against the wallet of `node` with `bond` (default: the deposit Params asks); returns its id. */
export async function openChallenge(
  f: Fixture,
  i: number,
  kind: number,
  node: number,
  epoch: bigint,
  bond = f.p.challengeBond,
): Promise<bigint> {
  const id = (await f.c.panel.getFunction('challengeCount')()) as bigint;
  await send(f.as(i).panel, 'challenge', kind, f.wallets[node]!.address, epoch, { value: bond });
  return id;
}

/** Mines the block whose hash seeds the current round's draw, draws, and returns the wallet indexes of the panel. */
export async function drawPanel(f: Fixture, id: bigint): Promise<number[]> {
  await f.provider.send('evm_mine', []);
  await send(f.c.panel, 'draw', id);
  return panelOf(f, id);
}

/** Wallet indexes of the panel drawn for the current round of challenge `id`. */
export async function panelOf(f: Fixture, id: bigint): Promise<number[]> {
  const c = await f.c.panel.getFunction('challengeOf')(id);
  const panel = (await f.c.panel.getFunction('panelOf')(id, c.round)) as string[];
  return panel.map((a) => f.wallets.findIndex((w) => w.address === a));
}

export interface PanelTotals {
  balance: bigint;
  notaryBonds: bigint;
  notarySlashed: bigint;
  challengeBonds: bigint;
  payouts: bigint;
  burned: bigint;
}

/** Reads the panel's totals and asserts that its balance is exactly their sum. */
export async function assertPanelSolvent(f: Fixture): Promise<PanelTotals> {
  const g = (k: string) => f.c.panel.getFunction(k)() as Promise<bigint>;
  const [balance, notaryBonds, notarySlashed, challengeBonds, payouts, burned] = await Promise.all([
    f.provider.getBalance(f.deployment.addresses.panel),
    g('totalNotaryBonds'),
    g('totalNotarySlashed'),
    g('totalChallengeBonds'),
    g('totalPayouts'),
    g('totalBurned'),
  ]);
  assert.equal(balance, notaryBonds + notarySlashed + challengeBonds + payouts + burned, 'panel solvent');
  return { balance, notaryBonds, notarySlashed, challengeBonds, payouts, burned };
}

export async function windowsOf(f: Fixture, epoch: bigint): Promise<{ commit: bigint; reveal: bigint; challenge: bigint; settle: bigint }> {
  const [a, b, c, d] = (await f.c.ledger.getFunction('windows')(epoch)) as bigint[];
  return { commit: a!, reveal: b!, challenge: c!, settle: d! };
}

/** Mines a block at the start of the next epoch whose commit window is open, returns that epoch. */
export async function nextEpoch(f: Fixture): Promise<bigint> {
  const e = ((await f.c.params.getFunction('currentEpoch')()) as bigint) + 1n;
  const w = await windowsOf(f, e);
  await mineAt(f.provider, w.commit);
  return e;
}

/** Moves chain time to `t` if it is still ahead. */
export async function timeTo(f: Fixture, t: bigint): Promise<void> {
  if ((await now(f.provider)) < t) await mineAt(f.provider, t);
}

export function makeReceipt(f: Fixture, node: number, leader: number, epoch: bigint, over: Partial<Receipt> = {}): Receipt {
  return {
    node: f.wallets[node]!.address,
    epoch,
    round: 1n,
    checkpointHash: hexlify(randomBytes(32)),
    gradientHash: hexlify(randomBytes(32)),
    tokens: 1000n,
    score: 500_000n,
    leader: f.wallets[leader]!.address,
    ...over,
  };
}

export interface Signed {
  r: Receipt;
  /** Epoch the claim is made in (default: the receipt's). */
  epoch?: bigint;
  nonce: string;
  nodeSig: string;
  leaderSig: string;
}

export async function signed(f: Fixture, r: Receipt, node: number, leader: number): Promise<Signed> {
  const ledger = f.deployment.addresses.ledger;
  return {
    r,
    nonce: hexlify(randomBytes(32)),
    nodeSig: await signReceipt(f.wallets[node]!, r, f.chainId, ledger),
    leaderSig: await signReceipt(f.wallets[leader]!, r, f.chainId, ledger),
  };
}

export async function commitClaim(f: Fixture, node: number, s: Signed): Promise<void> {
  await send(
    f.as(node).ledger,
    'commit',
    s.epoch ?? s.r.epoch,
    commitment(s.r, s.nonce, f.wallets[node]!.address, f.chainId, f.deployment.addresses.ledger, s.epoch ?? s.r.epoch),
  );
}

export async function revealClaim(f: Fixture, node: number, s: Signed): Promise<void> {
  await send(f.as(node).ledger, 'reveal', s.epoch ?? s.r.epoch, receiptTuple(s.r), s.nonce, s.nodeSig, s.leaderSig);
}

let allErrors: Interface | undefined;
/** One interface with the custom errors of every contract (a revert can come from a nested call). */
function errorInterface(): Interface {
  if (!allErrors) {
    const seen = new Map<string, unknown>();
    for (const n of CONTRACT_NAMES) {
      for (const frag of loadArtifact(n).abi as { type: string; name: string; inputs: { type: string }[] }[]) {
        if (frag.type === 'error') seen.set(`${frag.name}(${frag.inputs.map((i) => i.type).join(',')})`, frag);
      }
    }
    allErrors = new Interface([...seen.values()] as InterfaceAbi);
  }
  return allErrors;
}

/** Name of the custom error in a rejected call or transaction; ethers v6 decodes them only for static calls. */
export function revertName(err: unknown): string | undefined {
  const e = err as { revert?: { name?: string }; data?: string };
  if (e.revert?.name) return e.revert.name;
  if (typeof e.data === 'string' && e.data.length >= 10) return errorInterface().parseError(e.data)?.name;
  return undefined;
}

/** Asserts that `p` reverts with the custom error `name` (decoded from the contract ABIs). */
export async function rejectsWith(p: Promise<unknown>, name: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    const e = err as { shortMessage?: string; message?: string };
    const got = revertName(err);
    assert.equal(got, name, `expected ${name}, got ${got ?? e.shortMessage ?? e.message}`);
    return true;
  });
}

/** The pool and per-node cap ContributionLedger.postSettlement expects for `epoch` now: the basis a posting states. */
export async function settlementBasis(f: Fixture, epoch: bigint): Promise<[bigint, bigint]> {
  const { commit } = await windowsOf(f, epoch);
  const [emitted, epochPool, dailyCap, shareBps] = (await Promise.all([
    f.c.ledger.getFunction('emittedOnDay')(commit / 86_400n),
    f.c.params.getFunction('epochPool')(),
    f.c.params.getFunction('dailyCap')(),
    f.c.params.getFunction('maxRewardShareBps')(),
  ])) as bigint[];
  const room = dailyCap! > emitted! ? dailyCap! - emitted! : 0n;
  const pool = epochPool! < room ? epochPool! : room;
  return [pool, (pool * shareBps!) / 10_000n];
}
