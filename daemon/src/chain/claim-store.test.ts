import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStateDb } from '../db/database.js';
import { ClaimQueue, ContributionStore, chainMigrations } from './claim-store.js';
import type { Receipt } from './receipt.js';

const receipt: Receipt = {
  node: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  epoch: 12n,
  round: 3n,
  checkpointHash: '0x' + '00'.repeat(32),
  gradientHash: '0x' + 'ab'.repeat(32),
  tokens: 4096n,
  score: 250_000n,
  leader: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
};

describe('chain claim store', () => {
  it('records contributions once per (round, nodeId) and keeps queue and retries across a reopen', () => {
    const dir = mkdtempSync(join(tmpdir(), 'magnet-claims-'));
    try {
      const file = join(dir, 'state.db');
      let { db } = openStateDb(file, chainMigrations);
      const store = new ContributionStore(db);
      const c = {
        round: 3,
        nodeId: 'node-0123456789abcdef',
        tokens: 4096,
        steps: 50,
        lossDelta: 0.25,
        verified: true,
        gradientSha256: 'ab'.repeat(32),
      };
      store.record(c);
      store.record({ ...c, tokens: 1 }); // a replayed record never overwrites the first
      assert.equal(store.count(), 1);
      assert.equal(store.all()[0]!.tokens, 4096);
      assert.throws(() => store.record({ ...c, tokens: 1.5 }), /whole numbers/);
      const q = new ClaimQueue(db);
      const entry = {
        digest: '0x' + '11'.repeat(32),
        round: 3,
        receipt,
        nonce: '0x' + '22'.repeat(32),
        nodeSignature: '0xaa',
        leaderSignature: '0xbb',
      };
      assert.equal(q.add(entry), true);
      assert.equal(q.add(entry), false);
      q.retryLater(entry.digest, 'connect ECONNREFUSED', 60_000);
      assert.equal(q.due().length, 0, 'not due before its retry time');
      db.close();
      ({ db } = openStateDb(file, chainMigrations));
      const q2 = new ClaimQueue(db);
      const [row] = q2.all();
      assert.equal(row!.state, 'queued');
      assert.equal(row!.attempts, 1);
      assert.deepEqual(row!.receipt, receipt);
      assert.equal(q2.due(Date.now() + 61_000).length, 1);
      q2.advance(entry.digest, 'paid', { reward: 123n });
      assert.equal(q2.get(entry.digest)!.reward, 123n);
      assert.equal(q2.due(Date.now() + 61_000).length, 0, 'a paid claim is never driven again');
      assert.equal(new ContributionStore(db).count(), 1);
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('hands out the receipts of a led round plus those of the few rounds led before it (resent with each outcome)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'magnet-claims-'));
    try {
      const { db } = openStateDb(join(dir, 'state.db'), chainMigrations);
      const store = new ContributionStore(db);
      for (const round of [1, 5, 9, 12, 20]) {
        for (const nodeId of ['node-aaaaaaaaaaaaaaaa', 'node-bbbbbbbbbbbbbbbb']) {
          store.record({ round, nodeId, tokens: 1, steps: 1, lossDelta: 0.1, verified: true, gradientSha256: 'ab'.repeat(32) });
          store.saveLeaderReceipt(round, nodeId, { ...receipt, round: BigInt(round) }, '0x01');
        }
      }
      const rounds = (r: number, earlier: number) => [...new Set(store.receiptsOfLedRounds(r, earlier).map((x) => x.round))];
      assert.deepEqual(rounds(20, 2), [9, 12, 20]);
      assert.deepEqual(rounds(12, 4), [1, 5, 9, 12], 'never a later round');
      assert.deepEqual(rounds(21, 1), [20], 'a round with nothing signed yet still resends the last led one');
      assert.equal(store.receiptsOfLedRounds(20, 0).length, 2, 'one receipt per contributor');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
