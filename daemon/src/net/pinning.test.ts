import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SigningKey, Wallet } from 'ethers';
import { openStateDb } from '../db/database.js';
import { netMigrations } from './peer-book.js';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { MagnetError } from '../util/errors.js';
import { bindingDigest, signBinding, verifyBinding } from './binding.js';
import { CertPinError, PeerBook } from './peer-book.js';
import { certFingerprint, generateSelfSigned, loadOrCreateTls } from './tls.js';

/** Certificate binding (wallet key vouches for a TLS certificate) and trust-on-first-use pinning in the peer book. */
const dir = mkdtempSync(join(tmpdir(), 'magnet-pin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function identity() {
  const key = new SigningKey(Wallet.createRandom().privateKey);
  return { key, nodeId: nodeIdFromPublicKey(key.compressedPublicKey) };
}
const bindingError = (fn: () => void): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MagnetError && err.code === 'ERR_CERT_BINDING', `expected ERR_CERT_BINDING, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected a binding error');
};

test('binding: a fixed key and fingerprint give a fixed digest, and the binding verifies', () => {
  const key = new SigningKey(`0x${'11'.repeat(32)}`);
  const nodeId = nodeIdFromPublicKey(key.compressedPublicKey);
  const fp = Buffer.alloc(32, 0xab);
  // Golden: sha256("magnet-cert-binding/1" || u16be(len) || nodeId || fp), recomputed independently here.
  const n = Buffer.from(nodeId);
  const want = createHash('sha256')
    .update('magnet-cert-binding/1')
    .update(Buffer.from([n.length >> 8, n.length & 0xff]))
    .update(n)
    .update(fp)
    .digest();
  assert.deepEqual(bindingDigest(nodeId, fp), want);
  const b = signBinding(key, nodeId, fp);
  assert.equal(b.signature.length, 65);
  verifyBinding(b, nodeId, fp);
  // RFC 6979 signatures are deterministic: signing again gives the same bytes.
  assert.deepEqual(signBinding(key, nodeId, fp).signature, b.signature);
});

test('binding: refused when missing, for another node, for another certificate, or signed by another key', () => {
  const a = identity();
  const b = identity();
  const fp = Buffer.alloc(32, 1);
  const other = Buffer.alloc(32, 2);
  assert.match(
    bindingError(() => verifyBinding(null, a.nodeId, fp)),
    /no valid certificate binding/,
  );
  assert.match(
    bindingError(() => verifyBinding(signBinding(a.key, a.nodeId, fp), b.nodeId, fp)),
    new RegExp(`names ${a.nodeId}, but the peer is ${b.nodeId}`),
  );
  assert.match(
    bindingError(() => verifyBinding(signBinding(a.key, a.nodeId, fp), a.nodeId, other)),
    /is for certificate sha256:0101.*presented sha256:0202/,
  );
  assert.match(
    bindingError(() => verifyBinding(signBinding(b.key, a.nodeId, fp), a.nodeId, fp)),
    new RegExp(`signed by another key \\(${b.nodeId}\\)`),
  );
  const bad = signBinding(a.key, a.nodeId, fp);
  assert.match(
    bindingError(() => verifyBinding({ ...bad, signature: bad.signature.subarray(0, 10) }, a.nodeId, fp)),
    /invalid signature/,
  );
});

test('pinning: first certificate is pinned, the same one passes, another is refused naming both fingerprints, forget re-pins', async () => {
  const { db } = openStateDb(join(dir, 'state.db'), netMigrations);
  try {
    const book = new PeerBook(db);
    const a = identity();
    const c1 = await generateSelfSigned(a.nodeId);
    const c2 = await generateSelfSigned(a.nodeId);
    const f1 = certFingerprint(c1.certPem);
    const f2 = certFingerprint(c2.certPem);
    const rec = (pem: string, fp: Buffer) => ({
      nodeId: a.nodeId,
      address: '0x',
      peerId: 'p',
      grpcAddress: '127.0.0.1:1',
      multiaddrs: [],
      tier: 't',
      roles: [],
      certSha256: fp.toString('hex'),
      certPem: pem,
    });
    assert.equal(book.checkPin(a.nodeId, f1), false, 'nothing pinned yet');
    book.upsert(rec(c1.certPem, f1), 1000);
    assert.equal(book.checkPin(a.nodeId, f1), true);
    assert.throws(
      () => book.checkPin(a.nodeId, f2),
      (err: unknown) =>
        err instanceof CertPinError &&
        err.message.includes(a.nodeId) &&
        err.message.includes(f1.toString('hex')) &&
        err.message.includes(f2.toString('hex')) &&
        err.message.includes('peers forget'),
    );
    // An upsert never overwrites an existing pin (only the first verified certificate counts).
    book.upsert(rec(c2.certPem, f2), 2000);
    assert.equal(book.get(a.nodeId)?.certSha256, f1.toString('hex'));
    assert.equal(book.get(a.nodeId)?.lastSeen, 2000);
    assert.equal(book.forget(a.nodeId), true);
    assert.equal(book.forget(a.nodeId), false);
    assert.equal(book.checkPin(a.nodeId, f2), false, 'forgotten: the next certificate is a first contact again');
    book.upsert(rec(c2.certPem, f2), 3000);
    assert.equal(book.checkPin(a.nodeId, f2), true);
  } finally {
    db.close();
  }
});

test('tls: the self-signed certificate is created once and reused (same fingerprint after a restart)', async () => {
  const { nodeId } = identity();
  const first = await loadOrCreateTls({ dir: join(dir, 'tls'), nodeId });
  const again = await loadOrCreateTls({ dir: join(dir, 'tls'), nodeId });
  assert.equal(first.created, true);
  assert.equal(again.created, false);
  assert.deepEqual(again.fingerprint, first.fingerprint);
  assert.equal(first.mode, 'pinned');
  rmSync(join(dir, 'tls', 'key.pem'));
  await assert.rejects(loadOrCreateTls({ dir: join(dir, 'tls'), nodeId }), /only one of .*cert\.pem and .*key\.pem exists/);
});
