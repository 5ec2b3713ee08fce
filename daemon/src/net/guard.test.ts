import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SigningKey, Wallet } from 'ethers';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { createLogger } from '../log/logger.js';
import { Metrics } from '../metrics/metrics.js';
import { EnvelopeVerifier, envelopeToPairs, NonceCache, signEnvelope, walletSigner } from './envelope.js';
import { RpcGuard } from './guard.js';
import { netMetrics } from './metrics.js';
import { codecs, METHODS } from './proto.js';
import { Refusal } from './refusal.js';

const opts = { maxControlBytes: 65536, controlRatePerSecond: 20, controlBurst: 60, ipRatePerSecond: 200, ipBurst: 400 };

function setup() {
  const nonces = new NonceCache(200_000, { perPeer: 8192 });
  const verifier = new EnvelopeVerifier({ mode: 'wallet', windowMs: 300_000, nonces });
  let verified = 0;
  const real = verifier.verify.bind(verifier);
  verifier.verify = (...args: Parameters<EnvelopeVerifier['verify']>) => {
    verified++;
    return real(...args);
  };
  const self = new SigningKey(Wallet.createRandom().privateKey);
  const now = Date.now();
  const guard = new RpcGuard(
    opts,
    verifier,
    walletSigner(self, nodeIdFromPublicKey(self.compressedPublicKey)),
    createLogger('silent', { pretty: false }),
    netMetrics(new Metrics()),
    { isMember: () => true },
    () => now,
  );
  return { guard, nonces, verified: () => verified, now };
}

function signedCalls(n: number, now: number) {
  const key = new SigningKey(Wallet.createRandom().privateKey);
  const nodeId = nodeIdFromPublicKey(key.compressedPublicKey);
  const body = codecs.HeartbeatRequest.encode({ seq: 1, tier: 'gpu_compute', roles: ['trainer'] });
  const mds = Array.from({ length: n }, () => {
    const md = new grpc.Metadata();
    for (const [k, v] of envelopeToPairs(signEnvelope(walletSigner(key, nodeId), 'request', METHODS.heartbeat, body, { now })))
      md.set(k, v);
    return md;
  });
  return { nodeId, body, mds };
}

test('a flood from one key is limited before any signature check and before any nonce is stored', () => {
  const { guard, nonces, verified, now } = setup();
  const flood = signedCalls(100, now);
  const honest = signedCalls(3, now);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) {
    let got = 'ok';
    try {
      guard.authenticate(METHODS.heartbeat, flood.mds[i % 100]!, flood.body, 'ipv4:127.0.0.1:5000', true);
    } catch (err) {
      assert.ok(err instanceof Refusal);
      got = err.reason;
    }
    counts[got] = (counts[got] ?? 0) + 1;
  }
  assert.deepEqual(counts, { ok: 60, rate_limited: 940 }, 'the burst passes, the rest is refused');
  assert.equal(verified(), 60, 'no refused call reached the signature check');
  assert.equal(nonces.size, 60, 'no refused call stored a nonce');
  // Another key behind the same address is unaffected.
  for (const md of honest.mds)
    assert.equal(guard.authenticate(METHODS.heartbeat, md, honest.body, 'ipv4:127.0.0.1:5001', true).nodeId, honest.nodeId);
});
