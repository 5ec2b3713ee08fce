import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { SigningKey, Wallet } from 'ethers';
import { after, before, test } from 'node:test';
import { RpcError } from '../../daemon/src/net/client.js';
import { signEnvelope } from '../../daemon/src/net/envelope.js';
import { codecs, METHODS } from '../../daemon/src/net/proto.js';
import { generateSelfSigned, certFingerprint } from '../../daemon/src/net/tls.js';
import { wholeBlobManifest } from '../../daemon/src/storage/manifest.js';
import { type RunningDaemon, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';
import {
  assertLoggedAndCounted,
  BASE_ENV,
  helloOf,
  type HostileTarget,
  HostilePeers,
  metadata,
  placeWhole,
  refused,
  SECRET,
  startWalletTarget,
  type Status,
  targetOf,
} from '../helpers/hostile-peers.js';

/**
 * Bad Hellos, a flood, and bad blobs against a real wallet-mode daemon over real gRPC/TLS (the envelope cases are in
 * net-security-envelope.test.ts): truncated or falsely bound Hellos, a swapped certificate, calls before a Hello,
 * past the rate limit, blobs with the wrong hash, size or offset, pushed by a non-member or placed by nothing, released
 * by a member that did not place them.
 * Every case must be refused with its own gRPC status and reason, logged with the sender's nodeId and counted in
 * /metrics; afterwards an honest daemon still joins.
 */
const daemons: RunningDaemon[] = [];
let wallet: RunningDaemon;
let walletTarget: HostileTarget;

/**
 * Keys the wallet daemon lists as members: the data-plane cases need a caller that may push blobs (a non-member is
 * refused before any of those checks, which case 10 shows).
 */
const memberKeys = Array.from({ length: 10 }, () => new SigningKey(Wallet.createRandom().privateKey));
const peers = new HostilePeers(memberKeys);

before(async () => {
  wallet = await startWalletTarget(memberKeys);
  daemons.push(wallet);
  walletTarget = await targetOf(wallet);
});
after(async () => {
  for (const d of daemons) await d.kill();
});
after(() => peers.close());

const reasons = new Map<string, string>(); // reason -> the sender nodeId the daemon must have logged

test(
  'every kind of bad Hello, flood and blob is refused with its own status, logged with the sender, and counted',
  { timeout: 120_000 },
  async () => {
    const t = walletTarget;
    const expectRefusal = async (
      name: string,
      sender: string,
      call: Promise<unknown>,
      code: grpc.status,
      reason: string,
    ): Promise<void> => {
      await refused(call, code, reason);
      reasons.set(`${name}`, sender);
    };

    // 1. Truncated protobuf, properly signed.
    {
      const a = peers.peer(t);
      const cert = await generateSelfSigned(a.nodeId);
      const full = codecs.HelloRequest.encode(helloOf(a.nodeId, cert.certPem, a.key));
      const cut = full.subarray(0, full.length - 7);
      await expectRefusal(
        'truncated',
        a.nodeId,
        a.client.rawUnary(METHODS.hello, cut, metadata(signEnvelope(a.signer, 'request', METHODS.hello, cut))),
        grpc.status.INVALID_ARGUMENT,
        'bad_protobuf',
      );
    }
    // 2. Certificate binding signed by another key.
    {
      const a = peers.peer(t);
      const b = peers.peer(t);
      const cert = await generateSelfSigned(a.nodeId);
      await expectRefusal(
        'binding by other key',
        a.nodeId,
        a.client.hello(helloOf(a.nodeId, cert.certPem, b.key)),
        grpc.status.PERMISSION_DENIED,
        'bad_binding',
      );
    }
    // 3. Certificate swapped for a known nodeId: first Hello pins cert 1, a later Hello with cert 2 (validly bound) is refused.
    {
      const a = peers.peer(t);
      const c1 = await generateSelfSigned(a.nodeId);
      const c2 = await generateSelfSigned(a.nodeId);
      await a.client.hello(helloOf(a.nodeId, c1.certPem, a.key, undefined, t.networkId));
      const err = await refused(
        a.client.hello(helloOf(a.nodeId, c2.certPem, a.key, undefined, t.networkId)),
        grpc.status.PERMISSION_DENIED,
        'cert_pin_mismatch',
      );
      assert.ok(
        err.message.includes(certFingerprint(c1.certPem).toString('hex')) &&
          err.message.includes(certFingerprint(c2.certPem).toString('hex')),
        `both fingerprints named: ${err.message}`,
      );
      assert.ok(err.message.includes(a.nodeId), 'the nodeId is named');
      reasons.set('cert swapped', a.nodeId);
    }
    // 4. Hello that describes another node than the signer.
    {
      const a = peers.peer(t);
      const b = peers.peer(t);
      const cert = await generateSelfSigned(b.nodeId);
      await expectRefusal(
        'hello for another node',
        a.nodeId,
        a.client.hello(helloOf(b.nodeId, cert.certPem, b.key)),
        grpc.status.INVALID_ARGUMENT,
        'bad_field',
      );
    }
    // 5. Heartbeat without a Hello first.
    {
      const a = peers.peer(t);
      await expectRefusal(
        'heartbeat before hello',
        a.nodeId,
        a.client.heartbeat({ seq: 1, tier: 'x', roles: [] }),
        grpc.status.FAILED_PRECONDITION,
        'unknown_peer',
      );
    }
    // 6. Rate limit: 2/s with a burst of 5; 15 calls at once -> some RESOURCE_EXHAUSTED, the first 5 pass.
    {
      const a = peers.peer(t);
      const results = await Promise.allSettled(Array.from({ length: 15 }, () => a.client.getPeers(1)));
      const limited = results.filter(
        (r) =>
          r.status === 'rejected' &&
          r.reason instanceof RpcError &&
          r.reason.status === grpc.status.RESOURCE_EXHAUSTED &&
          /rate_limited:/.test(r.reason.message),
      );
      assert.ok(results.filter((r) => r.status === 'fulfilled').length >= 5, 'the burst passes');
      assert.ok(limited.length >= 5, `rate-limited calls: ${limited.length} of 15`);
      reasons.set('rate limited', a.nodeId);
    }
    // 7. Blob whose final hash does not match its announced sha256 (placed by a manifest that lists that hash).
    {
      const a = peers.peer(t, 'wallet', SECRET, true);
      const data = Buffer.alloc(300 * 1024, 7);
      await expectRefusal('blob hash', a.nodeId, placeWhole(a, data, Buffer.alloc(300 * 1024, 8)), grpc.status.DATA_LOSS, 'hash_mismatch');
    }
    // 8. Blob larger than the configured limit (8 MiB).
    {
      const a = peers.peer(t, 'wallet', SECRET, true);
      const sha = createHash('sha256').update('x').digest('hex');
      await expectRefusal(
        'blob too large',
        a.nodeId,
        a.client.putBlob({ data: Buffer.alloc(16), sha256: sha, size: 9 * 1024 * 1024 }),
        grpc.status.RESOURCE_EXHAUSTED,
        'blob_too_large',
      );
    }
    // 9. Blob upload that claims to resume at an offset nothing was staged for.
    {
      const a = peers.peer(t, 'wallet', SECRET, true);
      const head = codecs.PutBlobHeader.encode({ sha256: createHash('sha256').update('y').digest('hex'), size: 1000, offset: 500 });
      const md = metadata(signEnvelope(a.signer, 'request', METHODS.putBlob, head));
      md.set('magnet-head-bin', head);
      const call = new Promise((resolve, reject) => {
        const c = new grpc.Client(t.grpcAddress, grpc.credentials.createSsl(Buffer.from(t.certPem as string)));
        const s = c.makeClientStreamRequest<Buffer, Buffer>(
          METHODS.putBlob,
          (b) => b,
          (b) => b,
          md,
          { deadline: Date.now() + 10_000 },
          (err, v) => {
            c.close();
            if (err) reject(new RpcError(METHODS.putBlob, err.code, err.details, t.nodeId));
            else resolve(v);
          },
        );
        s.end();
      });
      await expectRefusal('bad offset', a.nodeId, call, grpc.status.OUT_OF_RANGE, 'bad_offset');
    }
    // 10. A key nobody vouched for pushes a blob: authenticated, but not a member.
    {
      const a = peers.peer(t);
      const data = Buffer.alloc(1024, 3);
      await expectRefusal(
        'not a member',
        a.nodeId,
        a.client.putBlob({ data, sha256: createHash('sha256').update(data).digest('hex'), size: data.length }),
        grpc.status.PERMISSION_DENIED,
        'not_member',
      );
    }
    // 11. A non-member asks for a blob that is not public (a member's upload): refused without saying whether it exists.
    {
      const m = peers.peer(t, 'wallet', SECRET, true);
      const data = Buffer.alloc(2048, 5);
      const sha = createHash('sha256').update(data).digest('hex');
      await placeWhole(m, data);
      const a = peers.peer(t);
      await expectRefusal('not public', a.nodeId, a.client.statBlob(sha), grpc.status.PERMISSION_DENIED, 'not_public');
    }
    // 12. A Hello that names a wallet address other than its key's (member lists name wallets).
    {
      const a = peers.peer(t);
      const cert = await generateSelfSigned(a.nodeId);
      await expectRefusal(
        'wrong wallet in hello',
        a.nodeId,
        a.client.hello(helloOf(a.nodeId, cert.certPem, a.key, '0x0000000000000000000000000000000000000001')),
        grpc.status.INVALID_ARGUMENT,
        'bad_field',
      );
    }
    // 14. A validly signed and bound Hello from a node of another network (its spec differs): refused, both ids named.
    {
      const a = peers.peer(t);
      const cert = await generateSelfSigned(a.nodeId);
      const other = 'f0'.repeat(32);
      const err = await refused(
        a.client.hello(helloOf(a.nodeId, cert.certPem, a.key, undefined, other)),
        grpc.status.FAILED_PRECONDITION,
        'wrong_network',
      );
      assert.ok(
        err.message.includes(other.slice(0, 12)) && err.message.includes(t.networkId.slice(0, 12)),
        `both networks named: ${err.message}`,
      );
      reasons.set('hello from another network', a.nodeId);
    }
    // 13. A member pushes a blob that nothing places here, and a shard under another member's manifest.
    {
      const a = peers.peer(t, 'wallet', SECRET, true);
      const data = Buffer.alloc(4096, 9);
      const sha = createHash('sha256').update(data).digest('hex');
      await expectRefusal(
        'unplaced blob',
        a.nodeId,
        a.client.putBlob({ data, sha256: sha, size: data.length }),
        grpc.status.PERMISSION_DENIED,
        'not_placed',
      );
      const b = peers.peer(t, 'wallet', SECRET, true);
      const m = wholeBlobManifest(data, b.key, [t.nodeId]);
      await b.client.putBlob({ data: m.bytes, sha256: m.id, size: m.bytes.length }, { purpose: 'manifest' });
      await expectRefusal(
        "shard under another member's manifest",
        a.nodeId,
        a.client.putBlob({ data, sha256: sha, size: data.length }, { purpose: 'shard', manifestId: m.id }),
        grpc.status.PERMISSION_DENIED,
        'not_placed',
      );
      const stat = await a.client.statBlob(sha);
      assert.deepEqual([stat.present, stat.staged], [false, 0], 'nothing of a refused upload was kept or staged');

      // 15. A member tells the holder to delete another member's manifest (ReleaseBlob): refused, nothing deleted;
      // the member that placed it releases it. (A fresh member: a and b are near their call-rate burst.)
      const c = peers.peer(t, 'wallet', SECRET, true);
      await expectRefusal(
        "release of another member's blob",
        c.nodeId,
        c.client.releaseBlob(m.id),
        grpc.status.PERMISSION_DENIED,
        'not_owner',
      );
      assert.equal((await c.client.statBlob(m.id)).present, true, 'the manifest is still held');
      // Even its sender cannot aim a release at one holder and have another act on it: the request names the holder.
      const elsewhere = codecs.ReleaseBlobRequest.encode({ manifestId: m.id, holder: `node-${'0'.repeat(16)}` });
      await expectRefusal(
        'release for another holder',
        b.nodeId,
        b.client.rawUnary(METHODS.releaseBlob, elsewhere, metadata(signEnvelope(b.signer, 'request', METHODS.releaseBlob, elsewhere))),
        grpc.status.INVALID_ARGUMENT,
        'bad_field',
      );
      assert.deepEqual(await b.client.releaseBlob(m.id), { released: 1, bytes: m.bytes.length, kept: 0 });
      assert.equal((await c.client.statBlob(m.id)).present, false, 'released by its sender');
    }
    assert.equal(reasons.size, 17, `${reasons.size} kinds of bad input`);

    // Each refusal was logged naming the sender, and counted by reason.
    await assertLoggedAndCounted([wallet], reasons, [
      'bad_protobuf',
      'bad_binding',
      'cert_pin_mismatch',
      'bad_field',
      'unknown_peer',
      'rate_limited',
      'hash_mismatch',
      'blob_too_large',
      'bad_offset',
      'not_member',
      'not_public',
      'not_placed',
      'wrong_network',
      'not_owner',
    ]);
  },
);

test(
  'after all that, the daemon still serves honest peers (a daemon joins through it, blobs round-trip)',
  { timeout: 60_000 },
  async () => {
    const st = await wallet.get<Status>('/status');
    const honest = await startDaemon({ env: testEnv(BASE_ENV), args: ['--no-ssd-test', '--bootstrap', st.listen.p2p[0] as string] });
    daemons.push(honest);
    const hs = await honest.get<Status>('/status');
    await waitFor(
      async () => (await wallet.get<Status>('/status')).net.peers.some((p) => p.nodeId === hs.nodeId && p.state === 'live'),
      15_000,
      'the wallet daemon to see the honest one',
    );
    await waitFor(
      async () => (await honest.get<Status>('/status')).net.peers.some((p) => p.nodeId === st.nodeId && p.state === 'live'),
      15_000,
      'the honest daemon to see the wallet one',
    );
    // A member's client round-trips a blob over the data plane, with the final hash checked.
    const a = peers.peer(walletTarget, 'wallet', SECRET, true);
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const sha = createHash('sha256').update(data).digest('hex');
    const put = await placeWhole(a, data);
    assert.equal(put.sha256, sha);
    const back: Buffer[] = [];
    for await (const c of a.client.getBlob(sha, 0, data.length).chunks) back.push(c);
    assert.equal(createHash('sha256').update(Buffer.concat(back)).digest('hex'), sha);
    assert.equal(await wallet.stop(), 0);
  },
);
