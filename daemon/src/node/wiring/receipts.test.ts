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

test("a receipt's round-root leaf crosses the outcome intact, and a malformed one is refused naming the field", async () => {
  const { lr } = await signed();
  const leaf = { index: 3, root: '0x' + '1f'.repeat(32), proof: ['0x' + 'a1'.repeat(32), '0x' + 'b2'.repeat(32)] };
  const withLeaf = { ...lr, leaf };
  const back = receiptsOf('node-fedcba9876543210', overTheWire([toReceiptMsg(toSigned(withLeaf))])).map(fromSigned);
  assert.deepEqual(back, [withLeaf]);
  const good = toReceiptMsg(toSigned(withLeaf));
  const cases: [ContributionReceiptMsg['leaf'], RegExp][] = [
    [{ ...good.leaf!, index: 256 }, /receipts\.leaf\.index 256 is not below 256/],
    [{ ...good.leaf!, root: Buffer.alloc(31) }, /receipts\.leaf\.root has 31 bytes/],
    [{ ...good.leaf!, proof: [Buffer.alloc(33)] }, /receipts\.leaf\.proof has 33 bytes/],
    [{ ...good.leaf!, proof: Array.from({ length: 9 }, () => Buffer.alloc(32)) }, /receipts\.leaf\.proof has 9 hashes \(at most 8\)/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(
      () => receiptsOf('node-fedcba9876543210', overTheWire([{ ...good, leaf: bad }])),
      (err: unknown) => err instanceof Refusal && err.reason === 'bad_field' && message.test(err.message),
      message.source,
    );
  }
});
