/**
 * A hostile settler in its own process with its own key (for test/e2e/chain-settlement.test.ts):
 *   node hostile-settler.js post <rpc> <deployment file> <private key> <epoch>
 *     registers the key as a node if it is not one, then posts a settlement root of `epoch` that credits itself the
 *     per-node cap and nobody else (a root no claim gives); prints {"root", "total", "tx"}.
 *   node hostile-settler.js withdraw <rpc> <deployment file> <private key> <amount>
 *     tries to withdraw `amount` by proof from that root; prints the ledger's refusal and exits 3 when refused.
 */
import { Wallet, parseEther } from 'ethers';
import { attach, readDeployment } from '../../daemon/src/chain/deploy.js';
import { makeProvider } from '../../daemon/src/chain/provider.js';
import { buildRoundTree, settlementLeafHash } from '../../daemon/src/chain/round-tree.js';
import { SettlementBook } from '../../daemon/src/chain/settlement-book.js';

async function main(): Promise<void> {
  const [mode, rpc, file, key, value] = process.argv.slice(2);
  if (!mode || !rpc || !file || !key || !value) throw new Error('usage: hostile-settler post|withdraw RPC DEPLOYMENT KEY EPOCH|AMOUNT');
  const d = readDeployment(file);
  const chainId = BigInt(d.chainId);
  const provider = makeProvider(rpc, chainId);
  const wallet = new Wallet(key, provider);
  const c = attach(d, wallet);
  try {
    const leafOf = (amount: bigint) => settlementLeafHash(wallet.address, amount, chainId, d.addresses.ledger);
    if (mode === 'post') {
      if (!(await c.registry.getFunction('isRegistered')(wallet.address))) {
        const publicKey = '0x' + wallet.signingKey.publicKey.slice(4);
        const nodeId = (await c.registry.getFunction('nodeIdOf')(publicKey)) as string;
        await (await c.registry.getFunction('register')(publicKey, nodeId, 1, { value: parseEther('1') })).wait();
      }
      const epoch = BigInt(value);
      const basis = await new SettlementBook().basis({ provider, wallet, c, d, chainId }, epoch);
      const root = buildRoundTree([leafOf(basis.nodeCap)]).root;
      const tx = await c.ledger.getFunction('postSettlement')(epoch, root, basis.nodeCap, basis.pool, basis.nodeCap);
      await tx.wait();
      process.stdout.write(JSON.stringify({ root, total: basis.nodeCap.toString(), tx: tx.hash }) + '\n');
      return;
    }
    const amount = BigInt(value);
    try {
      await c.ledger.getFunction('withdrawCumulative').staticCall(amount, buildRoundTree([leafOf(amount)]).proof(leafOf(amount)));
    } catch (err) {
      process.stdout.write(`refused: ${(err as { revert?: { name?: string } }).revert?.name ?? (err as Error).message}\n`);
      process.exitCode = 3;
      return;
    }
    process.stdout.write('accepted\n');
  } finally {
    provider.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
