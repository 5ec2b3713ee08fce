import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Wallet, getAddress } from 'ethers';
import { receiptSigner, signReceipt, type Receipt } from '../../chain/receipt.js';
import { receiptsOf, toReceiptMsg } from './round-wire.js';
import { codecs, type ContributionReceiptMsg } from '../../net/proto.js';
import { Refusal } from '../../net/refusal.js';
import { fromSigned, toSigned } from './receipts.js';

const chainId = 31337n;
const ledger = '0x' + '5'.repeat(40);

async function signed(): Promise<{ leader: { address: string }; lr: Parameters<typeof toSigned>[0] }> {
  const leader = Wallet.createRandom();
  const receipt: Receipt = {
    node: getAddress('0x' + 'ab'.repeat(20)),
    epoch: 7n,
    round: 12n,
    checkpointHash: '0x' + '00'.repeat(32),
    gradientHash: '0x' + 'cd'.repeat(32),
    tokens: 65_536n,
    score: 1234n,
    leader: leader.address,
  };
  const leaderSignature = await signReceipt(leader, receipt, chainId, ledger);
  return { leader, lr: { nodeId: 'node-0123456789abcdef', round: 12, receipt, leaderSignature } };
}

/** Through the wire as a round outcome carries it: encoded once by protobuf, decoded and checked at the other end. */
function overTheWire(list: ContributionReceiptMsg[]): ContributionReceiptMsg[] {
  return codecs.RoundOutcome.decode(codecs.RoundOutcome.encode({ proposal: null, votes: [], receipts: list })).receipts;
}

test('a leader-signed receipt crosses the round outcome typed and arrives with its signature still valid', async () => {
  const { leader, lr } = await signed();
  const back = receiptsOf('node-fedcba9876543210', overTheWire([toReceiptMsg(toSigned(lr))])).map(fromSigned);
  assert.deepEqual(back, [lr]);
  assert.equal(receiptSigner(back[0]!.receipt, back[0]!.leaderSignature, chainId, ledger), leader.address);
});

test('a malformed receipt in an outcome is refused (bad_field) naming the field', async () => {
  const { lr } = await signed();
  const good = toReceiptMsg(toSigned(lr));
  const cases: [Partial<ContributionReceiptMsg>, RegExp][] = [
    [{ checkpointHash: Buffer.alloc(31) }, /receipts\.checkpoint_hash has 31 bytes/],
    [{ gradientHash: Buffer.alloc(33) }, /receipts\.gradient_hash has 33 bytes/],
    [{ node: 'not-an-address' }, /receipts\.node "not-an-address" is not a 0x address/],
    [{ leader: '0x12' }, /receipts\.leader/],
    [{ nodeId: 'node-xyz' }, /receipts\.node_id/],
    [{ leaderSignature: Buffer.alloc(64) }, /signature of 64 bytes/],
  ];
  for (const [change, message] of cases) {
    assert.throws(
      () => receiptsOf('node-fedcba9876543210', overTheWire([{ ...good, ...change }])),
      (err: unknown) => err instanceof Refusal && err.reason === 'bad_field' && message.test(err.message),
      JSON.stringify(Object.keys(change)),
    );
  }
  assert.throws(
    () =>
      receiptsOf(
        'node-fedcba9876543210',
        Array.from({ length: 257 }, () => good),
      ),
    (err: unknown) => err instanceof Refusal && /receipts has 257 entries/.test(err.message),
  );
});
