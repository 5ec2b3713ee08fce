import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { SigningKey, Wallet } from 'ethers';
import { after, before, test } from 'node:test';
import { signEnvelope, walletSigner } from '../../daemon/src/net/envelope.js';
import { codecs, METHODS } from '../../daemon/src/net/proto.js';
import { type RunningDaemon } from '../helpers/daemon.js';
import {
  assertLoggedAndCounted,
  type HostileTarget,
  HostilePeers,
  metadata,
  refused,
  startHmacTarget,
  startWalletTarget,
  targetOf,
} from '../helpers/hostile-peers.js';

/**
 * Bad signed envelopes against real daemons over real gRPC/TLS (the Hello, rate-limit and blob cases are in
 * net-security-hello-blobs.test.ts): replays, clock skew, forged and malleated signatures, missing and malformed
 * metadata, the wrong auth mode, an oversize message. Every case must be refused with its own gRPC status and
 * reason, logged with the sender's nodeId and counted in /metrics. A second daemon in cluster-HMAC mode covers the
 * HMAC cases.
 */
const daemons: RunningDaemon[] = [];
let wallet: RunningDaemon;
let hmac: RunningDaemon;
let walletTarget: HostileTarget;
let hmacTarget: HostileTarget;
/** Listed as members like in net-security-hello-blobs, so both attack the same kind of daemon (none is used here). */
const memberKeys = Array.from({ length: 10 }, () => new SigningKey(Wallet.createRandom().privateKey));
const peers = new HostilePeers(memberKeys);

before(async () => {
  [wallet, hmac] = await Promise.all([startWalletTarget(memberKeys), startHmacTarget()]);
  daemons.push(wallet, hmac);
  walletTarget = await targetOf(wallet);
  hmacTarget = await targetOf(hmac, 'hmac');
});
after(async () => {
  for (const d of daemons) await d.kill();
});
after(() => peers.close());

const getPeers = codecs.GetPeersRequest.encode({ limit: 8 });
const reasons = new Map<string, string>(); // reason -> the sender nodeId the daemon must have logged

test('every kind of bad envelope is refused with its own status, logged with the sender, and counted', { timeout: 120_000 }, async () => {
  const t = walletTarget;
  const gp = METHODS.getPeers;
  const expectRefusal = async (name: string, sender: string, call: Promise<unknown>, code: grpc.status, reason: string): Promise<void> => {
    await refused(call, code, reason);
    reasons.set(`${name}`, sender);
  };

  // 1. Replay: the very same signed request twice.
  {
    const a = peers.peer(t);
    const env = signEnvelope(a.signer, 'request', gp, getPeers);
    await a.client.rawUnary(gp, getPeers, metadata(env));
    await expectRefusal('replayed', a.nodeId, a.client.rawUnary(gp, getPeers, metadata(env)), grpc.status.ALREADY_EXISTS, 'replayed_nonce');
  }
  // 2-3. Clock skew: 6 minutes old, 6 minutes ahead.
  {
    const a = peers.peer(t);
    await expectRefusal(
      'old',
      a.nodeId,
      a.client.rawUnary(gp, getPeers, metadata(signEnvelope(a.signer, 'request', gp, getPeers, { now: Date.now() - 6 * 60_000 }))),
      grpc.status.UNAUTHENTICATED,
      'stale_timestamp',
    );
    await expectRefusal(
      'future',
      a.nodeId,
      a.client.rawUnary(gp, getPeers, metadata(signEnvelope(a.signer, 'request', gp, getPeers, { now: Date.now() + 6 * 60_000 }))),
      grpc.status.UNAUTHENTICATED,
      'future_timestamp',
    );
  }
  // 4. Signed by another key than the claimed nodeId's.
  {
    const a = peers.peer(t);
    const b = peers.peer(t);
    const forged = signEnvelope(walletSigner(b.key, a.nodeId), 'request', gp, getPeers);
    await expectRefusal(
      'other key',
      a.nodeId,
      a.client.rawUnary(gp, getPeers, metadata(forged)),
      grpc.status.UNAUTHENTICATED,
      'signer_mismatch',
    );
  }
  // 5. A nodeId that names no key at all (well formed), signed by some key.
  {
    const a = peers.peer(t);
    const fake = 'node-0123456789abcdef';
    await expectRefusal(
      'nodeId not the key',
      fake,
      a.client.rawUnary(gp, getPeers, metadata(signEnvelope(walletSigner(a.key, fake), 'request', gp, getPeers))),
      grpc.status.UNAUTHENTICATED,
      'signer_mismatch',
    );
  }
  // 6. High-s (malleated) signature: s -> n - s, recovery id flipped; still a valid ECDSA signature.
  {
    const a = peers.peer(t);
    const env = signEnvelope(a.signer, 'request', gp, getPeers);
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(`0x${env.signature.subarray(32, 64).toString('hex')}`);
    const highS = Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex');
    const sig = Buffer.concat([env.signature.subarray(0, 32), highS, Buffer.from([(env.signature[64] as number) ^ 1])]);
    await expectRefusal(
      'high s',
      a.nodeId,
      a.client.rawUnary(gp, getPeers, metadata({ ...env, signature: sig })),
      grpc.status.UNAUTHENTICATED,
      'high_s',
    );
  }
  // 7. Body changed after signing.
  {
    const a = peers.peer(t);
    const env = signEnvelope(a.signer, 'request', gp, getPeers);
    await expectRefusal(
      'changed body',
      a.nodeId,
      a.client.rawUnary(gp, codecs.GetPeersRequest.encode({ limit: 9 }), metadata(env)),
      grpc.status.UNAUTHENTICATED,
      'signer_mismatch',
    );
  }
  // 8-9. No envelope at all; an envelope without its signature.
  {
    const a = peers.peer(t);
    await expectRefusal(
      'no metadata',
      'unknown',
      a.client.rawUnary(gp, getPeers, new grpc.Metadata()),
      grpc.status.UNAUTHENTICATED,
      'missing_metadata',
    );
    const env = signEnvelope(a.signer, 'request', gp, getPeers);
    await expectRefusal(
      'no signature',
      a.nodeId,
      a.client.rawUnary(
        gp,
        getPeers,
        metadata(env, (p) => p.filter(([k]) => k !== 'magnet-sig')),
      ),
      grpc.status.UNAUTHENTICATED,
      'missing_metadata',
    );
  }
  // 10-12. Malformed envelope fields: unknown version, short nonce, signature of the wrong length.
  {
    const a = peers.peer(t);
    const env = signEnvelope(a.signer, 'request', gp, getPeers);
    await expectRefusal(
      'version',
      a.nodeId,
      a.client.rawUnary(
        gp,
        getPeers,
        metadata(env, (p) => p.map(([k, v]) => [k, k === 'magnet-v' ? '2' : v])),
      ),
      grpc.status.UNAUTHENTICATED,
      'bad_version',
    );
    await expectRefusal(
      'nonce',
      a.nodeId,
      a.client.rawUnary(
        gp,
        getPeers,
        metadata(env, (p) => p.map(([k, v]) => [k, k === 'magnet-nonce' ? 'abcd' : v])),
      ),
      grpc.status.UNAUTHENTICATED,
      'bad_metadata',
    );
    await expectRefusal(
      'sig length',
      a.nodeId,
      a.client.rawUnary(gp, getPeers, metadata({ ...env, signature: env.signature.subarray(0, 64) })),
      grpc.status.UNAUTHENTICATED,
      'bad_signature',
    );
  }
  // 13. An HMAC-signed request to a wallet-mode node.
  {
    const a = peers.peer(t, 'hmac');
    await expectRefusal('hmac to wallet', a.nodeId, a.client.getPeers(4), grpc.status.UNAUTHENTICATED, 'wrong_auth_mode');
  }
  // 14. Oversize control message (limit 64 KiB), properly signed.
  {
    const a = peers.peer(t);
    const big = codecs.GetPeersRequest.encode({ limit: 1 });
    const body = Buffer.concat([big, Buffer.alloc(100 * 1024, 0)]); // valid protobuf? no matter: size is checked first
    await expectRefusal(
      'oversize',
      a.nodeId,
      a.client.rawUnary(gp, body, metadata(signEnvelope(a.signer, 'request', gp, body))),
      grpc.status.RESOURCE_EXHAUSTED,
      'oversize',
    );
  }
  // 15-17. The HMAC-mode daemon: wrong secret, wallet-signed request, body changed after signing.
  {
    const h = peers.peer(hmacTarget, 'hmac', 'another-secret-that-is-long-enough');
    await expectRefusal('wrong hmac', h.nodeId, h.client.getPeers(1), grpc.status.UNAUTHENTICATED, 'bad_hmac');
    const w = peers.peer(hmacTarget, 'wallet');
    await expectRefusal('wallet to hmac', w.nodeId, w.client.getPeers(1), grpc.status.UNAUTHENTICATED, 'wrong_auth_mode');
    const ok = peers.peer(hmacTarget, 'hmac');
    const res = await ok.client.getPeers(1); // the right secret is accepted, and the answer's HMAC checked
    assert.ok(Array.isArray(res.peers));
    const env = signEnvelope(ok.signer, 'request', gp, getPeers);
    await expectRefusal(
      'hmac changed body',
      ok.nodeId,
      ok.client.rawUnary(gp, codecs.GetPeersRequest.encode({ limit: 2 }), metadata(env)),
      grpc.status.UNAUTHENTICATED,
      'bad_hmac',
    );
  }
  assert.equal(reasons.size, 17, `${reasons.size} kinds of bad envelope`);

  // Each refusal was logged naming the sender, and counted by reason.
  await assertLoggedAndCounted([wallet, hmac], reasons, [
    'replayed_nonce',
    'stale_timestamp',
    'future_timestamp',
    'signer_mismatch',
    'high_s',
    'missing_metadata',
    'bad_version',
    'bad_metadata',
    'bad_signature',
    'wrong_auth_mode',
    'oversize',
    'bad_hmac',
  ]);
});
