import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Wallet } from 'ethers';
import { identityFromWallet } from '../identity/identity.js';
import type { Upload } from '../net/blob-backend.js';
import { Refusal } from '../net/refusal.js';
import { sha256Hex } from './cid.js';
import { MAX_MANIFEST_BYTES, type Manifest, verifyManifest, wholeBlobManifest } from './manifest.js';
import { type PlacementView, checkManifestUpload, checkPlacement } from './placement.js';

const alice = identityFromWallet(new Wallet(Wallet.createRandom().privateKey));
const mallory = identityFromWallet(new Wallet(Wallet.createRandom().privateKey));
const blob = randomBytes(1000);
const placed = wholeBlobManifest(blob, alice.signingKey, ['node-0000000000000001']);
const manifests = new Map<string, Manifest>([[placed.id, verifyManifest(placed.bytes, placed.id).manifest]]);
const view = (gradients?: PlacementView['gradients']): PlacementView => ({ manifest: async (id) => manifests.get(id), gradients });
const upload = (over: Partial<Upload>): Upload => ({
  sender: alice.nodeId,
  sha256: sha256Hex(blob),
  size: blob.length,
  purpose: 'shard',
  manifestId: placed.id,
  staged: { peer: 0, all: 0 },
  ...over,
});

async function reason(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    assert.ok(err instanceof Refusal, `expected a Refusal, got ${String(err)}`);
    return err.reason;
  }
  return 'placed';
}

test('a shard is placed only by the creator of a manifest this node holds that lists it, at its size', async () => {
  assert.equal(await reason(checkPlacement(upload({}), view())), 'placed');
  assert.equal(await reason(checkPlacement(upload({ manifestId: undefined }), view())), 'not_placed', 'no manifest named');
  assert.equal(await reason(checkPlacement(upload({ manifestId: 'f'.repeat(64) }), view())), 'not_placed', 'a manifest not held here');
  assert.equal(await reason(checkPlacement(upload({ sender: mallory.nodeId }), view())), 'not_placed', "another member's manifest");
  assert.equal(
    await reason(checkPlacement(upload({ sha256: 'e'.repeat(64) }), view())),
    'not_placed',
    'a shard the manifest does not list',
  );
  assert.equal(await reason(checkPlacement(upload({ size: blob.length + 1 }), view())), 'not_placed', 'another size');
});

test('a gradient is placed only when the DiLoCo part expects it; a manifest up to 1 MiB, verified once in', async () => {
  const g = upload({ purpose: 'gradient', round: 7, manifestId: undefined });
  assert.equal(await reason(checkPlacement(g, view())), 'not_placed', 'no rounds run here');
  assert.equal(
    await reason(
      checkPlacement(
        g,
        view(() => 'this node does not lead round 7'),
      ),
    ),
    'not_placed',
  );
  assert.equal(
    await reason(
      checkPlacement(
        g,
        view((p) => (p.round === 7 && p.sender === alice.nodeId ? undefined : 'no')),
      ),
    ),
    'placed',
  );
  const m = upload({ purpose: 'manifest', sha256: placed.id, size: placed.bytes.length, manifestId: undefined });
  assert.equal(await reason(checkPlacement(m, view())), 'placed');
  assert.equal(await reason(checkPlacement({ ...m, size: MAX_MANIFEST_BYTES + 1 }, view())), 'blob_too_large');
  assert.equal(checkManifestUpload(m, placed.bytes).creator.nodeId, alice.nodeId);
  assert.equal(await reason(() => checkManifestUpload({ ...m, sender: mallory.nodeId }, placed.bytes)), 'bad_manifest', 'sent by another');
  assert.equal(await reason(() => checkManifestUpload(m, Buffer.from('{"not":"a manifest"}'))), 'bad_manifest');
  assert.equal(
    await reason(checkPlacement(upload({ purpose: 'checkpoint' as never }), view())),
    'not_placed',
    'checkpoints are never pushed',
  );
});
