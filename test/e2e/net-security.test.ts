import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SigningKey, Wallet, computeAddress } from 'ethers';
import { after, before, test } from 'node:test';
import { nodeIdFromPublicKey } from '../../daemon/src/identity/node-id.js';
import { signBinding } from '../../daemon/src/net/binding.js';
import { PeerClient, RpcError, type PeerTarget } from '../../daemon/src/net/client.js';
import {
  type Envelope,
  EnvelopeVerifier,
  envelopeToPairs,
  hmacSigner,
  NonceCache,
  signEnvelope,
  walletSigner,
  type EnvelopeSigner,
} from '../../daemon/src/net/envelope.js';
import { codecs, METHODS, type HelloMsg } from '../../daemon/src/net/proto.js';
import { generateSelfSigned, certFingerprint } from '../../daemon/src/net/tls.js';
import { type RunningDaemon, startDaemon, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * Bad input against a real daemon over real gRPC/TLS: this test process plays a set of hostile peers (each with its
 * own fresh wallet key, so per-peer rate limits never mix cases). Every case must be refused with its own gRPC
 * status and reason, logged with the sender's nodeId and counted in /metrics; afterwards an honest daemon still
 * joins. A second daemon in cluster-HMAC mode covers the HMAC cases.
 */
const SECRET = 'cluster-secret-for-tests-0123456789';
const base = {
  MAGNET_HEARTBEAT: '1',
  MAGNET_PEER_STALE: '5',
  MAGNET_CONTROL_RATE: '2',
  MAGNET_CONTROL_BURST: '5',
  MAGNET_MAX_BLOB_BYTES: String(8 * 1024 * 1024),
};
const daemons: RunningDaemon[] = [];
let wallet: RunningDaemon;
let hmac: RunningDaemon;
let walletTarget: PeerTarget;
let hmacTarget: PeerTarget;

interface Status {
  nodeId: string;
  listen: { p2p: string[]; grpc: string };
  net: { tls: { certSha256: string }; peers: { nodeId: string; state: string }[] };
}

async function targetOf(d: RunningDaemon): Promise<PeerTarget> {
  const st = await d.get<Status>('/status');
  return {
    nodeId: st.nodeId,
    grpcAddress: st.listen.grpc,
    certPem: readFileSync(join(d.home, 'tls', 'cert.pem'), 'utf8'),
    certSha256: Buffer.from(st.net.tls.certSha256, 'hex'),
  };
}

/**
 * Keys the wallet daemon lists as members: the data-plane cases need a caller that may push blobs (a non-member is
 * refused before any of those checks, which case 27 shows).
 */
const memberKeys = Array.from({ length: 8 }, () => new SigningKey(Wallet.createRandom().privateKey));

before(async () => {
  const members = ['--members', memberKeys.map((k) => nodeIdFromPublicKey(k.compressedPublicKey)).join(',')];
  [wallet, hmac] = await Promise.all([
    startDaemon({ env: testEnv(base), args: ['--no-ssd-test', ...members] }),
    startDaemon({ env: testEnv({ ...base, MAGNET_AUTH_MODE: 'hmac', MAGNET_CLUSTER_SECRET: SECRET }), args: ['--no-ssd-test'] }),
  ]);
  daemons.push(wallet, hmac);
  walletTarget = await targetOf(wallet);
  hmacTarget = await targetOf(hmac);
});
after(async () => {
  for (const d of daemons) await d.kill();
});

/**
 * A fresh hostile (or honest) peer: its key, nodeId, and a client to `target` signing with `signer`. With `member`,
 * its key is one the wallet daemon lists as a member (each used once).
 */
function peer(target: PeerTarget, mode: 'wallet' | 'hmac' = 'wallet', secret = SECRET, member = false) {
  const key = member ? (memberKeys.shift() as SigningKey) : new SigningKey(Wallet.createRandom().privateKey);
  const nodeId = nodeIdFromPublicKey(key.compressedPublicKey);
  const signer: EnvelopeSigner = mode === 'wallet' ? walletSigner(key, nodeId) : hmacSigner(Buffer.from(secret), nodeId);
  const verifier = new EnvelopeVerifier({
    mode: target === hmacTarget ? 'hmac' : 'wallet',
    windowMs: 300_000,
    nonces: new NonceCache(1000),
    ...(target === hmacTarget ? { secret: Buffer.from(SECRET) } : {}),
  });
  const client = new PeerClient(target, {
    signer,
    verifier,
    opts: { chunkBytes: 256 * 1024, callDeadlineMs: 10_000, blobDeadlineMs: 30_000 },
  });
  clients.push(client);
  return { key, nodeId, signer, client };
}
const clients: PeerClient[] = [];
after(() => {
  for (const c of clients) c.close();
});

function metadata(env: Envelope, edit?: (pairs: [string, string][]) => [string, string][]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of edit ? edit(envelopeToPairs(env)) : envelopeToPairs(env)) md.set(k, v);
  return md;
}

/** Sends and expects a refusal with `code` whose details start with `reason`. */
async function refused(p: Promise<unknown>, code: grpc.status, reason: string): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(grpc.status[err.status], grpc.status[code], `status for ${reason}: ${err.message}`);
    assert.match(err.message, new RegExp(`${reason}:`), `reason ${reason} in "${err.message}"`);
    return err;
  }
  assert.fail(`expected a ${reason} refusal, the call succeeded`);
}

/** A Hello describing `nodeId` with `certPem`, the certificate binding signed by `bindingKey` (its own key or another's). */
function helloOf(nodeId: string, certPem: string, bindingKey: SigningKey, address = computeAddress(bindingKey.publicKey)): HelloMsg {
  const binding = signBinding(bindingKey, nodeId, certFingerprint(certPem));
  return {
    self: {
      nodeId,
      address,
      peerId: '',
      multiaddrs: [],
      grpcAddress: '127.0.0.1:9',
      tier: 'mobile_light',
      roles: ['light'],
      version: 'test',
    },
    certPem,
    binding,
  };
}

const getPeers = codecs.GetPeersRequest.encode({ limit: 8 });
const reasons = new Map<string, string>(); // reason -> the sender nodeId the daemon must have logged

test('every kind of bad input is refused with its own status, logged with the sender, and counted', { timeout: 120_000 }, async () => {
  const t = walletTarget;
  const gp = METHODS.getPeers;
  const expectRefusal = async (name: string, sender: string, call: Promise<unknown>, code: grpc.status, reason: string): Promise<void> => {
    await refused(call, code, reason);
    reasons.set(`${name}`, sender);
  };

  // 1. Replay: the very same signed request twice.
  {
    const a = peer(t);
    const env = signEnvelope(a.signer, 'request', gp, getPeers);
    await a.client.rawUnary(gp, getPeers, metadata(env));
    await expectRefusal('replayed', a.nodeId, a.client.rawUnary(gp, getPeers, metadata(env)), grpc.status.ALREADY_EXISTS, 'replayed_nonce');
  }
  // 2-3. Clock skew: 6 minutes old, 6 minutes ahead.
  {
    const a = peer(t);
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
    const a = peer(t);
    const b = peer(t);
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
    const a = peer(t);
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
    const a = peer(t);
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
    const a = peer(t);
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
    const a = peer(t);
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
    const a = peer(t);
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
    const a = peer(t, 'hmac');
    await expectRefusal('hmac to wallet', a.nodeId, a.client.getPeers(4), grpc.status.UNAUTHENTICATED, 'wrong_auth_mode');
  }
  // 14. Oversize control message (limit 64 KiB), properly signed.
  {
    const a = peer(t);
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
  // 15. Truncated protobuf, properly signed.
  {
    const a = peer(t);
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
  // 16. Certificate binding signed by another key.
  {
    const a = peer(t);
    const b = peer(t);
    const cert = await generateSelfSigned(a.nodeId);
    await expectRefusal(
      'binding by other key',
      a.nodeId,
      a.client.hello(helloOf(a.nodeId, cert.certPem, b.key)),
      grpc.status.PERMISSION_DENIED,
      'bad_binding',
    );
  }
  // 17. Certificate swapped for a known nodeId: first Hello pins cert 1, a later Hello with cert 2 (validly bound) is refused.
  {
    const a = peer(t);
    const c1 = await generateSelfSigned(a.nodeId);
    const c2 = await generateSelfSigned(a.nodeId);
    await a.client.hello(helloOf(a.nodeId, c1.certPem, a.key));
    const err = await refused(a.client.hello(helloOf(a.nodeId, c2.certPem, a.key)), grpc.status.PERMISSION_DENIED, 'cert_pin_mismatch');
    assert.ok(
      err.message.includes(certFingerprint(c1.certPem).toString('hex')) &&
        err.message.includes(certFingerprint(c2.certPem).toString('hex')),
      `both fingerprints named: ${err.message}`,
    );
    assert.ok(err.message.includes(a.nodeId), 'the nodeId is named');
    reasons.set('cert swapped', a.nodeId);
  }
  // 18. Hello that describes another node than the signer.
  {
    const a = peer(t);
    const b = peer(t);
    const cert = await generateSelfSigned(b.nodeId);
    await expectRefusal(
      'hello for another node',
      a.nodeId,
      a.client.hello(helloOf(b.nodeId, cert.certPem, b.key)),
      grpc.status.INVALID_ARGUMENT,
      'bad_field',
    );
  }
  // 19. Heartbeat without a Hello first.
  {
    const a = peer(t);
    await expectRefusal(
      'heartbeat before hello',
      a.nodeId,
      a.client.heartbeat({ seq: 1, tier: 'x', roles: [] }),
      grpc.status.FAILED_PRECONDITION,
      'unknown_peer',
    );
  }
  // 20. Rate limit: 2/s with a burst of 5; 15 calls at once -> some RESOURCE_EXHAUSTED, the first 5 pass.
  {
    const a = peer(t);
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
  // 21. Blob whose final hash does not match its announced sha256.
  {
    const a = peer(t, 'wallet', SECRET, true);
    const data = Buffer.alloc(300 * 1024, 7);
    const wrong = createHash('sha256').update('something else').digest('hex');
    await expectRefusal(
      'blob hash',
      a.nodeId,
      a.client.putBlob({ data, sha256: wrong, size: data.length }),
      grpc.status.DATA_LOSS,
      'hash_mismatch',
    );
  }
  // 22. Blob larger than the configured limit (8 MiB).
  {
    const a = peer(t, 'wallet', SECRET, true);
    const sha = createHash('sha256').update('x').digest('hex');
    await expectRefusal(
      'blob too large',
      a.nodeId,
      a.client.putBlob({ data: Buffer.alloc(16), sha256: sha, size: 9 * 1024 * 1024 }),
      grpc.status.RESOURCE_EXHAUSTED,
      'blob_too_large',
    );
  }
  // 23. Blob upload that claims to resume at an offset nothing was staged for.
  {
    const a = peer(t, 'wallet', SECRET, true);
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
  // 24-26. The HMAC-mode daemon: wrong secret, wallet-signed request, body changed after signing.
  {
    const h = peer(hmacTarget, 'hmac', 'another-secret-that-is-long-enough');
    await expectRefusal('wrong hmac', h.nodeId, h.client.getPeers(1), grpc.status.UNAUTHENTICATED, 'bad_hmac');
    const w = peer(hmacTarget, 'wallet');
    await expectRefusal('wallet to hmac', w.nodeId, w.client.getPeers(1), grpc.status.UNAUTHENTICATED, 'wrong_auth_mode');
    const ok = peer(hmacTarget, 'hmac');
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
  // 27. A key nobody vouched for pushes a blob: authenticated, but not a member.
  {
    const a = peer(t);
    const data = Buffer.alloc(1024, 3);
    await expectRefusal(
      'not a member',
      a.nodeId,
      a.client.putBlob({ data, sha256: createHash('sha256').update(data).digest('hex'), size: data.length }),
      grpc.status.PERMISSION_DENIED,
      'not_member',
    );
  }
  // 28. A non-member asks for a blob that is not public (a member's upload): refused without saying whether it exists.
  {
    const m = peer(t, 'wallet', SECRET, true);
    const data = Buffer.alloc(2048, 5);
    const sha = createHash('sha256').update(data).digest('hex');
    await m.client.putBlob({ data, sha256: sha, size: data.length });
    const a = peer(t);
    await expectRefusal('not public', a.nodeId, a.client.statBlob(sha), grpc.status.PERMISSION_DENIED, 'not_public');
  }
  // 29. A Hello that names a wallet address other than its key's (member lists name wallets).
  {
    const a = peer(t);
    const cert = await generateSelfSigned(a.nodeId);
    await expectRefusal(
      'wrong wallet in hello',
      a.nodeId,
      a.client.hello(helloOf(a.nodeId, cert.certPem, a.key, '0x0000000000000000000000000000000000000001')),
      grpc.status.INVALID_ARGUMENT,
      'bad_field',
    );
  }
  assert.ok(reasons.size >= 23, `${reasons.size} kinds of bad input`);

  // Each refusal was logged naming the sender, and counted by reason.
  const logs = wallet.output() + hmac.output();
  for (const [name, sender] of reasons) assert.ok(logs.includes(`from ${sender}`), `log line naming ${sender} (${name})`);
  const metrics = (await (await fetch(`${wallet.url}/metrics`)).text()) + (await (await fetch(`${hmac.url}/metrics`)).text());
  for (const reason of [
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
    'bad_protobuf',
    'bad_binding',
    'cert_pin_mismatch',
    'bad_field',
    'unknown_peer',
    'rate_limited',
    'hash_mismatch',
    'blob_too_large',
    'bad_offset',
    'bad_hmac',
    'not_member',
    'not_public',
  ]) {
    assert.match(metrics, new RegExp(`magnet_net_refused_total\\{[^}]*reason="${reason}"[^}]*\\} [1-9]`), `metric for ${reason}`);
  }
});

test(
  'after all that, the daemon still serves honest peers (a daemon joins through it, blobs round-trip)',
  { timeout: 60_000 },
  async () => {
    const st = await wallet.get<Status>('/status');
    const honest = await startDaemon({ env: testEnv(base), args: ['--no-ssd-test', '--bootstrap', st.listen.p2p[0] as string] });
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
    const a = peer(walletTarget, 'wallet', SECRET, true);
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const sha = createHash('sha256').update(data).digest('hex');
    const put = await a.client.putBlob({ data, sha256: sha, size: data.length });
    assert.equal(put.sha256, sha);
    const back: Buffer[] = [];
    for await (const c of a.client.getBlob(sha).chunks) back.push(c);
    assert.equal(createHash('sha256').update(Buffer.concat(back)).digest('hex'), sha);
    assert.equal(await wallet.stop(), 0);
  },
);
