import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { Signature, Wallet } from 'ethers';
import { identityFromWallet } from '../identity/identity.js';
import { isMagnetError } from '../util/errors.js';
import { type Manifest, canonicalJson, signManifest, verifyManifest } from './manifest.js';

const alice = identityFromWallet(new Wallet(Wallet.createRandom().privateKey));
const mallory = identityFromWallet(new Wallet(Wallet.createRandom().privateKey));

function manifest(creator = alice): Manifest {
  return {
    version: 1,
    kind: 'checkpoint',
    blob: { sha256: 'a'.repeat(64), size: 10 },
    k: 4,
    m: 2,
    shardSize: 3,
    shards: Array.from({ length: 6 }, (_, i) => ({ index: i, sha256: String(i).repeat(64), cid: `bafkrei${i}xxxxxxxx`, holders: [creator.nodeId] })),
    createdAt: 1_700_000_000_000,
    creator: { nodeId: creator.nodeId, address: creator.address, publicKey: creator.publicKey },
  };
}

test('a signed manifest verifies; its id is the sha256 of its canonical bytes', () => {
  const { bytes, id, signed } = signManifest(manifest(), alice);
  assert.equal(bytes.toString('utf8'), canonicalJson(signed));
  assert.deepEqual(verifyManifest(bytes, id).manifest, manifest());
});

test('canonical JSON sorts keys and has no spaces', () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'] }), '{"a":[true,null,"x"],"b":1}');
});

test('hash mismatch, non-canonical bytes, bad format are refused with their own codes', () => {
  const { bytes, id } = signManifest(manifest(), alice);
  assert.throws(() => verifyManifest(bytes, 'b'.repeat(64)), (e) => isMagnetError(e, 'ERR_MANIFEST_HASH'));
  const spaced = Buffer.from(JSON.stringify(JSON.parse(bytes.toString()), null, 1));
  assert.throws(() => verifyManifest(spaced, sha(spaced)), (e) => isMagnetError(e, 'ERR_MANIFEST_FORMAT'));
  const m = manifest();
  m.shardSize = 99;
  assert.throws(() => signManifest(m, alice), (e) => isMagnetError(e, 'ERR_MANIFEST_FORMAT'));
  void id;
});

test('a manifest naming Alice but signed by Mallory is refused', () => {
  const forged = signManifest(manifest(alice), mallory);
  assert.throws(() => verifyManifest(forged.bytes, forged.id), (e) => isMagnetError(e, 'ERR_MANIFEST_SIGNATURE'));
});

test('a changed field under the original signature is refused', () => {
  const { signed } = signManifest(manifest(), alice);
  const tampered = { ...signed, manifest: { ...signed.manifest, blob: { ...signed.manifest.blob, size: 11 } } };
  const bytes = Buffer.from(canonicalJson(tampered));
  assert.throws(() => verifyManifest(bytes, sha(bytes)), (e) => isMagnetError(e, 'ERR_MANIFEST_SIGNATURE') || isMagnetError(e, 'ERR_MANIFEST_FORMAT'));
  const tampered2 = { ...signed, manifest: { ...signed.manifest, kind: 'gradient' } };
  const bytes2 = Buffer.from(canonicalJson(tampered2));
  assert.throws(() => verifyManifest(bytes2, sha(bytes2)), (e) => isMagnetError(e, 'ERR_MANIFEST_SIGNATURE'));
});

test('a malleated (high-s) signature is refused', () => {
  const { signed } = signManifest(manifest(), alice);
  const sig = Signature.from(signed.signature);
  const n = BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141');
  // ethers will not build a high-s Signature object, so assemble r || (n - s) || flipped v by hand.
  const highS = `${sig.r}${(n - BigInt(sig.s)).toString(16).padStart(64, '0')}${sig.v === 27 ? '1c' : '1b'}`;
  const bytes = Buffer.from(canonicalJson({ ...signed, signature: highS }));
  assert.throws(() => verifyManifest(bytes, sha(bytes)), (e) => isMagnetError(e, 'ERR_MANIFEST_SIGNATURE'));
});

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
