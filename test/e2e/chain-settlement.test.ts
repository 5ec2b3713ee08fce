import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
const HOSTILE = fileURLToPath(new URL('../helpers/hostile-settler.js', import.meta.url));
const devKey = (i: number) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${i}`).privateKey;
const STATUS = { upheld: 2n, executed: 6n };

/**
 * Merkle settlement among real daemons: three daemons in the testnet environment (settlement by root, each on the
 * notary panel), one of them with a claim; a hostile settler in its own process with its own bonded key posts a root
 * that credits itself. The daemons find it wrong by recomputing it from the claims, one challenges it, the other two
 * are drawn and vote it down, the slash is executed, and the claimant's honest root is posted, finalized and paid.
 */
describe('Merkle settlement among daemons with a hostile settler', () => {
  let local: LocalChain;
  let dir: string;
  const daemons: RunningDaemon[] = [];
  before(async () => {
    dir = tempHome('magnet-settle-e2e-');
    local = await startLocalChain(dir);
  });
  after(async () => {
    for (const d of daemons) {
      d.proc.kill('SIGCONT');
      await d.stop();
    }
    await local?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("challenges, votes down and slashes a hostile settler's root; the honest root follows and pays", { timeout: 300_000 }, async () => {
    const provider = makeProvider(local.rpc, 31337n);
    const leader = new Wallet(devKey(5), provider);
    const c = attach(local.deployment, leader);
    const mineAt = async (t: bigint) => {
      const latest = BigInt((await provider.getBlock('latest'))!.timestamp);
      if (latest < t) await provider.send('evm_mine', [Number(t)]);
    };
    const { MAGNET_CHAIN_RPC: rpc, MAGNET_CHAIN_DEPLOYMENT: deploymentFile } = local.env;
    const env = testEnv({ ...local.env, MAGNET_CHAIN_POLL_MS: '200', MAGNET_CHAIN_RETRY_BASE_MS: '100', MAGNET_CHAIN_RETRY_MAX_MS: '500' });
    const leaderPub = '0x' + leader.signingKey.publicKey.slice(4);
    await (
      await c.registry.getFunction('register')(leaderPub, await c.registry.getFunction('nodeIdOf')(leaderPub), 1, { value: 10n ** 18n })
    ).wait();
    // Daemon 0 has a claim; daemons 1 and 2 only watch and sit on the panel.
    const started = [];
    for (const k of [6, 7, 8]) {
      const home = tempHome(`magnet-settle-node-${k}-`);
      await run(process.execPath, [CLI, 'keys', 'import', '--home', home], { env: { ...env, MAGNET_IMPORT_KEY: devKey(k) } });
      started.push(startDaemon({ home, env }));
    }
    daemons.push(...(await Promise.all(started)));
    const [claimant] = daemons;
    const addresses = await Promise.all(daemons.map(async (d) => (await d.get<{ address: string }>('/status')).address));
    await waitFor(
      async () => {
        for (const a of addresses)
          if (!(await c.panel.getFunction('notaryOf')(a)).joined || !(await c.registry.getFunction('isActive')(a))) return false;
        return true;
      },
      60_000,
      'registration and notary bonds',
    );

    const epoch = ((await c.params.getFunction('currentEpoch')()) as bigint) + 1n;
    const r: Receipt = {
      node: addresses[0]!,
      epoch,
      round: 1n,
      checkpointHash: hexlify(randomBytes(32)),
      gradientHash: hexlify(randomBytes(32)),
      tokens: 4096n,
      score: 500_000n,
      leader: leader.address,
    };
    const leaderSignature = await signReceipt(leader, r, 31337n, local.deployment.addresses.ledger);
    const ok = await claimant!.fetch('/chain/receipts', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ round: 1, receipt: JSON.parse(receiptToJson(r)), leaderSignature }),
    });
    assert.equal(ok.status, 200);
    const claim = async () => (await claimant!.get<{ claims: { state: string; reward: string | null }[] }>('/chain/claims')).claims[0];
    const [commitOpens, revealOpens, , challengeCloses] = (await c.ledger.getFunction('windows')(epoch)) as bigint[];
    await mineAt(commitOpens!);
    await waitFor(async () => (await claim())?.state === 'committed', 30_000, 'commit');
    await mineAt(revealOpens!);
    await waitFor(async () => (await claim())?.state === 'revealed', 30_000, 'reveal');

    // The claimant is paused so that the hostile settler posts first, as it would if it were simply faster.
    claimant!.proc.kill('SIGSTOP');
    await mineAt(challengeCloses!);
    const hostileKey = devKey(9);
    const hostile = new Wallet(hostileKey).address;
    const { stdout } = await run(process.execPath, [HOSTILE, 'post', rpc!, deploymentFile!, hostileKey, String(epoch)]);
    const bad = JSON.parse(stdout) as { root: string; total: string };
    claimant!.proc.kill('SIGCONT');
    const bondBefore = (await c.registry.getFunction('nodeOf')(hostile)).bond as bigint;

    const count = await waitFor(
      async () => {
        const n = (await c.panel.getFunction('challengeCount')()) as bigint;
        return n > 0n ? n : undefined;
      },
      30_000,
      'a daemon challenges the root',
    );
    const id = count - 1n;
    const opened = await c.panel.getFunction('challengeOf')(id);
    assert.deepEqual([opened.kind, opened.node, opened.epoch], [4n, hostile, epoch]);
    assert.ok(addresses.includes(opened.challenger as string), 'a daemon challenged');
    // A live chain keeps making blocks (the draw needs one after the draw block); anvil mines only on demand.
    await waitFor(
      async () => {
        await provider.send('evm_mine', []);
        return (await c.panel.getFunction('challengeOf')(id)).status === STATUS.upheld;
      },
      30_000,
      'two panelists uphold it',
    );
    const ruled = await c.panel.getFunction('challengeOf')(id);
    assert.deepEqual([ruled.votesUphold, ruled.votesReject], [2n, 0n]);
    await mineAt(ruled.executeAfter as bigint);
    await waitFor(async () => (await c.panel.getFunction('challengeOf')(id)).status === STATUS.executed, 30_000, 'the slash executed');
    assert.ok(((await c.registry.getFunction('nodeOf')(hostile)).bond as bigint) < bondBefore, 'the hostile settler is slashed');

    // The claimant posts the root the claims give; it stands its challenge period and is finalized.
    const honest = await waitFor(
      async () => {
        const p = await c.ledger.getFunction('settlementOf')(epoch);
        return p.root !== ZeroHash && !p.voided && p.settler === addresses[0] ? p : undefined;
      },
      30_000,
      'the honest root',
    );
    assert.notEqual(honest.root, bad.root);
    await mineAt((honest.postedAt as bigint) + ((await c.params.getFunction('challengeWindow')()) as bigint));
    const paid = await waitFor(async () => ((await claim())?.state === 'paid' ? await claim() : undefined), 30_000, 'paid');
    assert.equal(BigInt(paid!.reward!), honest.total as bigint);
    assert.ok((honest.total as bigint) > 0n);
    assert.match(claimant!.output() + daemons[1]!.output() + daemons[2]!.output(), /a settlement posting is wrong/);
    const refused = await run(process.execPath, [HOSTILE, 'withdraw', rpc!, deploymentFile!, hostileKey, bad.total]).catch(
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal((refused as { code: number }).code, 3);
    assert.match((refused as { stdout: string }).stdout, /refused: LedgerInvalidSettlementProof/);
    provider.destroy();
  });
});
