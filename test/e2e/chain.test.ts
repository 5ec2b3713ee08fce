import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { HDNodeWallet, Mnemonic, Wallet, ZeroHash, hexlify, randomBytes } from 'ethers';
import { attach } from '../../daemon/src/chain/deploy.js';
import { DEV_MNEMONIC, startLocalChain, type LocalChain } from '../../daemon/src/chain/local-chain.js';
import { makeProvider } from '../../daemon/src/chain/provider.js';
import { receiptToJson } from '../../daemon/src/chain/claim-store.js';
import { signReceipt, type Receipt } from '../../daemon/src/chain/receipt.js';
import { CLI, startDaemon, tempHome, testEnv, waitFor, type RunningDaemon } from '../helpers/daemon.js';

const run = promisify(execFile);
const devKey = (i: number) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${i}`).privateKey;

interface ChainStatus {
  state: string;
  selfRegistration: string;
  claims: Record<string, number>;
}

/**
 * Real daemons against a real anvil: with no chain the node starts and says claims wait; with a chain the node
 * registers itself, takes a leader-signed receipt over HTTP, commits, reveals, settles on its own, and the CLI
 * shows and withdraws the reward.
 */
describe('chain claims through a running daemon', () => {
  let local: LocalChain;
  let dir: string;
  const daemons: RunningDaemon[] = [];
  before(async () => {
    dir = tempHome('magnet-chain-e2e-');
    local = await startLocalChain(dir);
  });
  after(async () => {
    for (const d of daemons) await d.stop();
    await local?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts with no chain configured: claims wait and /status says so', async () => {
    const d = await startDaemon();
    daemons.push(d);
    const st = await d.get<{ chain: ChainStatus }>('/status');
    assert.match(st.chain.state, /not configured/);
    assert.match(d.output(), /chain not configured/);
    const { stdout } = await run(process.execPath, [CLI, 'claims', '--home', d.home], { env: testEnv() });
    assert.match(stdout, /chain not configured: claims wait in the queue/);
  });

  it('registers, claims, settles and withdraws through the daemon and the CLI', { timeout: 180_000 }, async () => {
    const nodeKey = devKey(4);
    const leader = new Wallet(devKey(5), makeProvider(local.rpc, 31337n));
    const home = tempHome('magnet-chain-node-');
    // The chain comes from the start flags here (the other tests use MAGNET_CHAIN_RPC / MAGNET_CHAIN_DEPLOYMENT).
    const { MAGNET_CHAIN_RPC: rpc, MAGNET_CHAIN_DEPLOYMENT: deploymentFile, ...chainEnv } = local.env;
    const env = testEnv({ ...chainEnv, MAGNET_CHAIN_POLL_MS: '200', MAGNET_CHAIN_RETRY_BASE_MS: '100', MAGNET_CHAIN_RETRY_MAX_MS: '500' });
    await run(process.execPath, [CLI, 'keys', 'import', '--home', home], { env: { ...env, MAGNET_IMPORT_KEY: nodeKey } });
    const c = attach(local.deployment, leader);
    const leaderPub = '0x' + leader.signingKey.publicKey.slice(4);
    const leaderId = (await c.registry.getFunction('nodeIdOf')(leaderPub)) as string;
    await (await c.registry.getFunction('register')(leaderPub, leaderId, 1, { value: 10n ** 18n })).wait();

    const d = await startDaemon({ home, env, args: ['--chain-rpc', rpc!, '--chain-deployment', deploymentFile!] });
    daemons.push(d);
    const address = (await d.get<{ address: string }>('/status')).address;
    await waitFor(
      async () => (await d.get<{ chain: ChainStatus }>('/status')).chain.selfRegistration === 'registered',
      30_000,
      'self-registration',
    );
    assert.equal(await c.registry.getFunction('isActive')(address), true);

    // The round leader's receipt for this node, for the next epoch (so the test controls the windows).
    const epoch = ((await c.params.getFunction('currentEpoch')()) as bigint) + 1n;
    const r: Receipt = {
      node: address,
      epoch,
      round: 1n,
      checkpointHash: hexlify(randomBytes(32)),
      gradientHash: hexlify(randomBytes(32)),
      tokens: 4096n,
      score: 500_000n,
      leader: leader.address,
    };
    const leaderSignature = await signReceipt(leader, r, 31337n, local.deployment.addresses.ledger);
    const post = (body: unknown) =>
      d.fetch(`/chain/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const bad = await post({ round: 1, receipt: JSON.parse(receiptToJson({ ...r, tokens: 1n })), leaderSignature });
    assert.equal(bad.status, 400, 'a receipt the leader did not sign is refused');
    // A key nobody bonded signs itself in as the leader: validly signed, refused by the running daemon by name.
    const stranger = Wallet.createRandom();
    const forged = { ...r, leader: stranger.address };
    const unbonded = await post({
      round: 1,
      receipt: JSON.parse(receiptToJson(forged)),
      leaderSignature: await signReceipt(stranger, forged, 31337n, local.deployment.addresses.ledger),
    });
    assert.equal(unbonded.status, 400);
    assert.match(
      ((await unbonded.json()) as { error: { message: string } }).error.message,
      /not registered on chain: nobody bonded that key/,
    );
    const ok = await post({ round: 1, receipt: JSON.parse(receiptToJson(r)), leaderSignature });
    assert.equal(ok.status, 200);

    const [commitOpens, revealOpens, , challengeCloses] = (await c.ledger.getFunction('windows')(epoch)) as bigint[];
    const mineAt = async (t: bigint) => {
      const latest = BigInt((await leader.provider!.getBlock('latest'))!.timestamp);
      if (latest < t) await (leader.provider as ReturnType<typeof makeProvider>).send('evm_mine', [Number(t)]);
    };
    const claimState = async () => (await d.get<{ claims: { state: string; reward: string | null }[] }>('/chain/claims')).claims[0];
    await mineAt(commitOpens!);
    await waitFor(async () => (await claimState())?.state === 'committed', 30_000, 'commit');
    await mineAt(revealOpens!);
    await waitFor(async () => (await claimState())?.state === 'revealed', 30_000, 'reveal');
    const est = await d.get<{ claims: { estimate: string | null }[] }>('/chain/rewards');
    await mineAt(challengeCloses!);
    // The testnet environment settles by Merkle root: the daemon posts the epoch's root, and finalizes it once the
    // posting's own challenge period (challengeWindow) is over.
    const posting = await waitFor(
      async () => {
        const p = await c.ledger.getFunction('settlementOf')(epoch);
        return p.root !== ZeroHash ? p : undefined;
      },
      30_000,
      'settlement posting',
    );
    assert.equal(posting.settler, address);
    await mineAt((posting.postedAt as bigint) + ((await c.params.getFunction('challengeWindow')()) as bigint));
    const paid = await waitFor(
      async () => {
        const s = await claimState();
        return s?.state === 'paid' ? s : undefined;
      },
      30_000,
      'settlement',
    );
    assert.ok(BigInt(paid.reward!) > 0n);
    assert.equal(est.claims[0]!.estimate, paid.reward, 'the estimate before settlement equals the settled reward');

    const { stdout: rewardsOut } = await run(process.execPath, [CLI, 'rewards', '--home', home], { env });
    assert.match(rewardsOut, /settled rewards: [\d.]+ MAG over 1 claims/);
    const { stdout: claimsJson } = await run(process.execPath, [CLI, 'claims', '--home', home, '--json'], { env });
    assert.equal((JSON.parse(claimsJson) as { claims: { state: string }[] }).claims[0]!.state, 'paid');
    const { stdout: w } = await run(
      process.execPath,
      [CLI, 'chain', 'withdraw', '--home', home, '--rpc', rpc!, '--deployment', deploymentFile!],
      { env },
    );
    assert.match(w, /withdrew [\d.]+ MAG .*0\.0 settled by the claim loop, [\d.]+ by Merkle proof/);
    assert.equal(await c.token.getFunction('balanceOf')(address), BigInt(paid.reward!));
    const again = await run(process.execPath, [CLI, 'chain', 'withdraw', '--home', home, '--rpc', rpc!, '--deployment', deploymentFile!], {
      env,
    }).catch((err: { stderr: string }) => err);
    assert.match((again as { stderr: string }).stderr, /nothing to withdraw/);
  });

  it('deploys with the CLI and registers a node with `chain register`', { timeout: 120_000 }, async () => {
    const out = `${dir}/cli-deployment.json`;
    const env = testEnv({ MAGNET_DEPLOYER_KEY: devKey(0) });
    const { stdout: dep } = await run(process.execPath, [CLI, 'chain', 'deploy', '--rpc', local.rpc, '--out', out, '--fast'], { env });
    assert.match(dep, /deployed on chain 31337 at block \d+: ledger 0x[0-9a-fA-F]{40}/);
    const d = JSON.parse(readFileSync(out, 'utf8')) as { chainId: string; addresses: Record<string, string> };
    assert.equal(d.chainId, '31337');
    const home = tempHome('magnet-chain-cli-');
    await run(process.execPath, [CLI, 'keys', 'import', '--home', home], { env: { ...env, MAGNET_IMPORT_KEY: devKey(6) } });
    const args = ['chain', 'register', '--home', home, '--rpc', local.rpc, '--deployment', out];
    const bad = await run(process.execPath, [CLI, ...args, '--bond', 'lots', '--tier', 'storage_node'], { env }).catch(
      (err: { stderr: string }) => err,
    );
    assert.match((bad as { stderr: string }).stderr, /--bond "lots" is not an amount/);
    const noTier = await run(process.execPath, [CLI, ...args, '--bond', '1'], { env }).catch((err: { stderr: string }) => err);
    assert.match((noTier as { stderr: string }).stderr, /pass --tier/);
    const { stdout: reg } = await run(process.execPath, [CLI, ...args, '--bond', '2', '--tier', 'storage_node'], { env });
    assert.match(reg, /registered node-[0-9a-f]{16} \(0x[0-9a-fA-F]{40}\) as storage_node with a bond of 2/);
    const c = attach({ ...local.deployment, chainId: d.chainId, addresses: d.addresses as never }, makeProvider(local.rpc, 31337n));
    const addr = new Wallet(devKey(6)).address;
    assert.equal(await c.registry.getFunction('tierOf')(addr), 2n);
    assert.equal((await c.registry.getFunction('nodeOf')(addr)).bond, 2n * 10n ** 18n);
    const { stdout: again } = await run(process.execPath, [CLI, ...args, '--bond', '2', '--tier', 'storage_node'], { env });
    assert.match(again, /already registered/);
    const noRpc = await run(process.execPath, [CLI, 'chain', 'withdraw', '--home', home, '--deployment', out], {
      env: testEnv({ MAGNET_CHAIN_RPC: '' }),
    }).catch((err: { stderr: string }) => err);
    assert.match((noRpc as { stderr: string }).stderr, /pass --rpc URL or set MAGNET_CHAIN_RPC/);
  });
});
