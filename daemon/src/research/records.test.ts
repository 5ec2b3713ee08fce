import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Wallet } from 'ethers';
import { signDigest } from '../identity/signature.js';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { jobDigestHex, openRecord, parseJob, parseResult, RecordError, signRecord } from './records.js';

function key() {
  const k = Wallet.createRandom().signingKey;
  return { sign: (d: Buffer) => signDigest(k, d), nodeId: nodeIdFromPublicKey(k.compressedPublicKey) };
}

const job = (researcher: string) => ({
  v: 1,
  runId: 'r1',
  trialId: 'p1-c0-s0',
  researcher,
  config: { lr: 0.001 },
  seed: 0,
  steps: 10,
  data: 'generated',
  evalWindows: 4,
  testWindows: 4,
  issuedAt: 1,
});

test('a signed record opens for its author and names it; its digest is what a result answers', () => {
  const a = key();
  const rec = signRecord('trial-job', job(a.nodeId), a.sign);
  const body = openRecord(rec, 'trial-job', 'researcher', a.nodeId);
  assert.equal(parseJob(body).trialId, 'p1-c0-s0');
  assert.match(jobDigestHex(rec), /^[0-9a-f]{64}$/);
});

test('a record is refused: another kind, another author than it names, another caller, a changed body, a bad field', () => {
  const a = key();
  const b = key();
  const reason = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof RecordError);
      return err.reason;
    }
    return 'accepted';
  };
  const rec = signRecord('trial-job', job(a.nodeId), a.sign);
  assert.equal(
    reason(() => openRecord(rec, 'trial-result', 'worker')),
    'bad_kind',
  );
  // b signs a job that names a as the researcher: a validly signed lie about who wrote it.
  assert.equal(
    reason(() => openRecord(signRecord('trial-job', job(a.nodeId), b.sign), 'trial-job', 'researcher')),
    'wrong_author',
  );
  assert.equal(
    reason(() => openRecord(rec, 'trial-job', 'researcher', b.nodeId)),
    'wrong_author',
  );
  const changed = { ...rec, body: Buffer.from(rec.body.toString('utf8').replace('"steps":10', '"steps":99')) };
  assert.equal(
    reason(() => openRecord(changed, 'trial-job', 'researcher', a.nodeId)),
    'wrong_author',
  );
  assert.equal(
    reason(() => openRecord({ ...rec, signature: Buffer.alloc(64) }, 'trial-job', 'researcher')),
    'bad_signature',
  );
  assert.equal(
    reason(() => parseJob({ ...job(a.nodeId), steps: 0 })),
    'bad_field',
  );
  const result = {
    runId: 'r1',
    trialId: 't',
    worker: a.nodeId,
    job: 'a'.repeat(64),
    checkpointSha256: 'b'.repeat(64),
    manifestId: '',
    testLoss: 1,
    curve: [[1, 2]],
    tokens: 1,
    seconds: 1,
    params: 1,
  };
  assert.equal(
    reason(() => parseResult({ ...result, evalLoss: Number.NaN })),
    'bad_field',
  );
  assert.equal(
    reason(() => parseResult({ ...result, evalLoss: -1 })),
    'bad_field',
  );
  assert.equal(parseResult({ ...result, evalLoss: 2.5 }).evalLoss, 2.5);
});
