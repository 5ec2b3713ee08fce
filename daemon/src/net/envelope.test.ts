import assert from 'node:assert/strict';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SigningKey, Wallet } from 'ethers';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { REPO_ROOT } from '../version.js';
import {
  type Direction,
  type Envelope,
  EnvelopeError,
  EnvelopeVerifier,
  NonceCache,
  envelopeDigest,
  envelopeFromPairs,
  envelopeToPairs,
  hmacSigner,
  signEnvelope,
  walletSigner,
} from './envelope.js';
import { codecs } from './proto.js';

interface Vector {
  name: string;
  mode: 'wallet' | 'hmac';
  direction: Direction;
  method: string;
  nodeId: string;
  timestampMs: number;
  nonceHex: string;
  bodyHex: string;
  digestHex: string;
  signatureHex: string;
  secretHex?: string;
}
const golden = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'golden', 'envelope', 'vectors.json'), 'utf8')) as {
  privateKeyHex: string;
  compressedPublicKeyHex: string;
  nodeId: string;
  vectors: Vector[];
};
const WINDOW = 300_000;

function verifier(mode: 'wallet' | 'hmac' = 'wallet', secret?: Buffer): EnvelopeVerifier {
  return new EnvelopeVerifier({ mode, windowMs: WINDOW, nonces: new NonceCache(10_000), ...(secret ? { secret } : {}) });
}
function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EnvelopeError, `expected EnvelopeError, got ${String(err)}`);
    return err.reason;
  }
  assert.fail('expected a refusal');
}

const key = new SigningKey(`0x${golden.privateKeyHex}`);
const me = walletSigner(key, golden.nodeId);
const method = '/magnet.v1.Control/Heartbeat';
const body = codecs.HeartbeatRequest.encode({ seq: 1, tier: 'tier-1', roles: ['light'] });

test('golden vectors: key, nodeId, digest and signature bytes are reproduced', () => {
  assert.equal(key.compressedPublicKey.slice(2), golden.compressedPublicKeyHex);
  assert.equal(nodeIdFromPublicKey(key.compressedPublicKey), golden.nodeId);
  assert.equal(golden.vectors.length, 3);
  for (const v of golden.vectors) {
    const nonce = Buffer.from(v.nonceHex, 'hex');
    const b = Buffer.from(v.bodyHex, 'hex');
    assert.equal(envelopeDigest(v.direction, v.method, v.nodeId, v.timestampMs, nonce, b).toString('hex'), v.digestHex, v.name);
    const signer = v.mode === 'wallet' ? me : hmacSigner(Buffer.from(v.secretHex as string, 'hex'), v.nodeId);
    const env = signEnvelope(signer, v.direction, v.method, b, { now: v.timestampMs, nonce });
    assert.equal(env.signature.toString('hex'), v.signatureHex, v.name);
    const ver = verifier(v.mode, v.secretHex ? Buffer.from(v.secretHex, 'hex') : undefined);
    assert.equal(ver.verify(v.direction, v.method, env, b, v.timestampMs).nodeId, golden.nodeId);
  }
});

test('golden wallet signature verifies with an independent ECDSA implementation (OpenSSL)', () => {
  const v = golden.vectors.find((x) => x.name === 'wallet-request') as Vector;
  const uncompressed = Buffer.from(SigningKey.computePublicKey(key.compressedPublicKey, false).slice(4), 'hex');
  const pub = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'secp256k1',
      x: uncompressed.subarray(0, 32).toString('base64url'),
      y: uncompressed.subarray(32).toString('base64url'),
    },
    format: 'jwk',
  });
  // OpenSSL hashes what it verifies, so give it the preimage as written in the vectors' description.
  const m = Buffer.from(v.method);
  const n = Buffer.from(v.nodeId);
  const len = (x: Buffer) => Buffer.from([x.length >> 8, x.length & 0xff]);
  const ts = Buffer.alloc(8);
  ts.writeBigUInt64BE(BigInt(v.timestampMs));
  const bodyHash = Buffer.from((golden.vectors[0] as Vector & { bodySha256Hex: string }).bodySha256Hex, 'hex');
  const preimage = Buffer.concat([
    Buffer.from('magnet-rpc/1'),
    Buffer.from([1]),
    len(m),
    m,
    len(n),
    n,
    ts,
    Buffer.from(v.nonceHex, 'hex'),
    bodyHash,
  ]);
  const sig = Buffer.from(v.signatureHex, 'hex').subarray(0, 64);
  assert.equal(nodeVerify('sha256', preimage, { key: pub, dsaEncoding: 'ieee-p1363' }, sig), true);
});

test('metadata round trip; missing or malformed fields are refused', () => {
  const env = signEnvelope(me, 'request', method, body);
  const pairs = new Map(envelopeToPairs(env));
  const back = envelopeFromPairs((k) => pairs.get(k));
  assert.deepEqual(back, env);
  const without = new Map(pairs);
  without.delete('magnet-sig');
  assert.equal(
    reason(() => envelopeFromPairs((k) => without.get(k))),
    'missing_metadata',
  );
  for (const [k, v, r] of [
    ['magnet-v', '2', 'bad_version'],
    ['magnet-node', 'node-XYZ', 'bad_metadata'],
    ['magnet-ts', '12e5', 'bad_metadata'],
    ['magnet-nonce', 'abcd', 'bad_metadata'],
    ['magnet-auth', 'rsa', 'bad_metadata'],
    ['magnet-sig', 'zz', 'bad_signature'],
  ] as const) {
    const bad = new Map(pairs).set(k, v);
    assert.equal(
      reason(() => envelopeFromPairs((x) => bad.get(x))),
      r,
      k,
    );
  }
});

test('wallet mode refuses replay, stale and future timestamps, other keys, changed bodies, high s', () => {
  const now = Date.now();
  const ver = verifier();
  const env = signEnvelope(me, 'request', method, body, { now });
  assert.equal(ver.verify('request', method, env, body, now).nodeId, golden.nodeId);
  assert.equal(
    reason(() => ver.verify('request', method, env, body, now)),
    'replayed_nonce',
  );
  const old = signEnvelope(me, 'request', method, body, { now: now - 6 * 60_000 });
  assert.equal(
    reason(() => ver.verify('request', method, old, body, now)),
    'stale_timestamp',
  );
  const future = signEnvelope(me, 'request', method, body, { now: now + 6 * 60_000 });
  assert.equal(
    reason(() => ver.verify('request', method, future, body, now)),
    'future_timestamp',
  );
  const other = Wallet.createRandom().signingKey;
  const forged = signEnvelope(walletSigner(other, golden.nodeId), 'request', method, body, { now });
  assert.equal(
    reason(() => ver.verify('request', method, forged, body, now)),
    'signer_mismatch',
  );
  const honest = signEnvelope(me, 'request', method, body, { now });
  const changed = Buffer.from(body);
  changed[changed.length - 1] ^= 1;
  assert.equal(
    reason(() => ver.verify('request', method, honest, changed, now)),
    'signer_mismatch',
  );
  assert.equal(
    reason(() => ver.verify('request', '/magnet.v1.Control/GetPeers', honest, body, now)),
    'signer_mismatch',
  );
  assert.equal(
    reason(() => ver.verify('response', method, honest, body, now)),
    'signer_mismatch',
  );
  // Malleate: (r, n - s, 1 - v) is the same signature over the same digest, but with high s.
  const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const s = BigInt(`0x${honest.signature.subarray(32, 64).toString('hex')}`);
  const high: Envelope = {
    ...honest,
    signature: Buffer.concat([
      honest.signature.subarray(0, 32),
      Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'),
      Buffer.from([1 - (honest.signature[64] as number)]),
    ]),
  };
  assert.equal(
    reason(() => ver.verify('request', method, high, body, now)),
    'high_s',
  );
  const short: Envelope = { ...honest, signature: honest.signature.subarray(0, 64) };
  assert.equal(
    reason(() => ver.verify('request', method, short, body, now)),
    'bad_signature',
  );
});

test('a failed signature does not burn the nonce; the honest request still goes through', () => {
  const now = Date.now();
  const ver = verifier();
  const honest = signEnvelope(me, 'request', method, body, { now });
  const forged: Envelope = {
    ...honest,
    signature: signEnvelope(walletSigner(Wallet.createRandom().signingKey, golden.nodeId), 'request', method, body, {
      now,
      nonce: honest.nonce,
    }).signature,
  };
  assert.equal(
    reason(() => ver.verify('request', method, forged, body, now)),
    'signer_mismatch',
  );
  assert.equal(ver.verify('request', method, honest, body, now).nodeId, golden.nodeId);
});

test('hmac mode: right secret passes, wrong secret and wallet requests are refused, compare is constant-length', () => {
  const secret = Buffer.from('a cluster secret of enough bytes');
  const now = Date.now();
  const ver = verifier('hmac', secret);
  assert.equal(
    ver.verify('request', method, signEnvelope(hmacSigner(secret, golden.nodeId), 'request', method, body, { now }), body, now).nodeId,
    golden.nodeId,
  );
  const wrong = signEnvelope(hmacSigner(Buffer.from('another cluster secret, 32 bytes'), golden.nodeId), 'request', method, body, { now });
  assert.equal(
    reason(() => ver.verify('request', method, wrong, body, now)),
    'bad_hmac',
  );
  const truncated: Envelope = {
    ...signEnvelope(hmacSigner(secret, golden.nodeId), 'request', method, body, { now }),
    signature: Buffer.alloc(5),
  };
  assert.equal(
    reason(() => ver.verify('request', method, truncated, body, now)),
    'bad_hmac',
  );
  assert.equal(
    reason(() => ver.verify('request', method, signEnvelope(me, 'request', method, body, { now }), body, now)),
    'wrong_auth_mode',
  );
  assert.equal(
    reason(() =>
      verifier().verify('request', method, signEnvelope(hmacSigner(secret, golden.nodeId), 'request', method, body, { now }), body, now),
    ),
    'wrong_auth_mode',
  );
  assert.throws(() => verifier('hmac', Buffer.from('short')), /at least 16 bytes/);
});

test('responses: signed by the expected peer and echoing the request nonce', () => {
  const now = Date.now();
  const ver = verifier();
  const req = signEnvelope(me, 'request', method, body, { now });
  const res = signEnvelope(me, 'response', method, body, { now, nonce: req.nonce });
  assert.equal(ver.verify('response', method, res, body, now, { nodeId: golden.nodeId, nonce: req.nonce }).nodeId, golden.nodeId);
  assert.equal(
    reason(() => ver.verify('response', method, res, body, now, { nodeId: 'node-0000000000000000', nonce: req.nonce })),
    'unexpected_signer',
  );
  assert.equal(
    reason(() => ver.verify('response', method, res, body, now, { nodeId: golden.nodeId, nonce: Buffer.alloc(16) })),
    'nonce_mismatch',
  );
});

test('nonce cache is bounded and forgets expired nonces', () => {
  const cache = new NonceCache(1000);
  for (let i = 0; i < 1000; i++) assert.equal(cache.add(`p${i % 7}`, `k${i}`, 100, 0), true);
  assert.equal(
    reason(() => cache.add('p1', 'one-more', 100, 50)),
    'nonce_cache_full',
  );
  assert.equal(cache.add('p1', 'one-more', 5000, 2000), true); // the old ones expired at 100
  assert.equal(cache.size, 1);
  assert.equal(cache.add('p1', 'one-more', 5000, 2050), false);
  assert.equal(cache.add('p2', 'one-more', 5000, 2050), true, 'nonces are per peer');
});

test('a truncated protobuf is refused by the codec', () => {
  const full = codecs.HelloRequest.encode({
    self: {
      nodeId: golden.nodeId,
      address: '0x',
      peerId: 'p',
      multiaddrs: ['/ip4/127.0.0.1/tcp/1'],
      grpcAddress: '127.0.0.1:1',
      tier: 't',
      roles: ['r'],
      version: '1',
      networkId: 'n',
    },
    certPem: 'x'.repeat(200),
    binding: null,
  });
  assert.throws(() => codecs.HelloRequest.decode(full.subarray(0, full.length - 50)));
  assert.equal(codecs.HelloRequest.decode(full).self?.nodeId, golden.nodeId);
});

test('known-key fast path: later requests of a signer verify against its cached key with the same outcomes', () => {
  const v = verifier();
  const now = Date.now();
  const other = new SigningKey(Wallet.createRandom().privateKey);
  for (let i = 0; i < 3; i++) {
    const body = codecs.GetPeersRequest.encode({ limit: i + 1 });
    const env = signEnvelope(me, 'request', method, body, { now });
    assert.equal(v.verify('request', method, env, body, now).nodeId, golden.nodeId);
    // Tampered body, another key claiming this nodeId, high s: refused exactly as on the first call.
    const env2 = signEnvelope(me, 'request', method, body, { now });
    assert.equal(
      reason(() => v.verify('request', method, env2, codecs.GetPeersRequest.encode({ limit: 99 }), now)),
      'signer_mismatch',
    );
    const forged = signEnvelope(walletSigner(other, golden.nodeId), 'request', method, body, { now });
    assert.equal(
      reason(() => v.verify('request', method, forged, body, now)),
      'signer_mismatch',
    );
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(`0x${env2.signature.subarray(32, 64).toString('hex')}`);
    const high = Buffer.concat([
      env2.signature.subarray(0, 32),
      Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'),
      Buffer.from([1 - (env2.signature[64] as number)]),
    ]);
    assert.equal(
      reason(() => v.verify('request', method, { ...env2, signature: high }, body, now)),
      'high_s',
    );
    assert.equal(
      reason(() => v.verify('request', method, env, body, now)),
      'replayed_nonce',
    );
  }
});
