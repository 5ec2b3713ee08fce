import 'reflect-metadata'; // @peculiar/x509 needs it before it loads
import assert from 'node:assert/strict';
import { createPrivateKey, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { PeerClient, RpcError, type PeerTarget } from '../../daemon/src/net/client.js';
import { EnvelopeVerifier, NonceCache, hmacSigner } from '../../daemon/src/net/envelope.js';
import { certSha256OfPem } from '../../daemon/src/net/client.js';
import { type RunningDaemon, membersArgs, prepareHomes, startDaemon, tempHome, testEnv, waitFor } from '../helpers/daemon.js';

/**
 * A private cluster with operator PKI (CA-signed certificates) and a shared HMAC secret: the two modes where the
 * signature alone does not name the caller. Client certificates are required, and every call must come over a TLS
 * channel with the certificate the caller's nodeId is bound to (its wallet-signed Hello): a member holding the
 * secret cannot call as another member. Round messages from a nodeId outside the member list are refused.
 */
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const SECRET = 'private-cluster-secret-0123456789';

const running: RunningDaemon[] = [];
const clients: PeerClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const d of running) await d.kill();
});

type Keys = webcrypto.CryptoKeyPair;
const keyPem = async (k: Keys) =>
  createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k.privateKey)), format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
const window = () => ({ notBefore: new Date(Date.now() - 3600_000), notAfter: new Date(Date.now() + 86_400_000) });

async function makeCa(): Promise<{ cert: x509.X509Certificate; keys: Keys }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as Keys;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=magnet test cluster CA',
    ...window(),
    signingAlgorithm: ALG,
    keys: keys as never,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys };
}

async function issue(
  ca: { cert: x509.X509Certificate; keys: Keys },
  name: string,
  serial: string,
): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as Keys;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${name}`,
    issuer: ca.cert.subject,
    ...window(),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey as never,
    signingKey: ca.keys.privateKey as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: name },
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys) };
}

async function refused(p: Promise<unknown>, code: grpc.status, reason?: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, `an RpcError, got ${String(err)}`);
    assert.equal(grpc.status[err.status], grpc.status[code], err.message);
    if (reason) assert.match(err.message, new RegExp(`${reason}:`));
    return;
  }
  assert.fail(`expected a refusal with ${grpc.status[code]} ${reason ?? ''}`);
}

test(
  'operator PKI with a cluster secret: client certificates are required and bound to the caller; nodeIds outside the member list cannot send round messages',
  { timeout: 180_000 },
  async () => {
    const dir = tempHome('magnet-pki-');
    const ca = await makeCa();
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, ca.cert.toString('pem'));
    const homes = await prepareHomes(2, 'magnet-pki-node-');
    const files = await Promise.all(
      homes.map(async (h, i) => {
        const c = await issue(ca, h.nodeId, `1${i}`);
        const cert = join(dir, `${h.nodeId}.pem`);
        const key = join(dir, `${h.nodeId}.key`);
        writeFileSync(cert, c.certPem);
        writeFileSync(key, c.keyPem, { mode: 0o600 });
        return { cert, key, ...c };
      }),
    );
    const envOf = (i: number) =>
      testEnv({
        MAGNET_AUTH_MODE: 'hmac',
        MAGNET_CLUSTER_SECRET: SECRET,
        MAGNET_P2P_CERT: files[i]!.cert,
        MAGNET_P2P_KEY: files[i]!.key,
        MAGNET_P2P_CA: caFile,
        MAGNET_HEARTBEAT: '1',
      });
    const args = ['--no-ssd-test', ...membersArgs(homes)];
    const a = await startDaemon({ home: homes[0]!.home, env: envOf(0), args });
    running.push(a);
    const boot = (await a.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0] as string;
    const b = await startDaemon({ home: homes[1]!.home, env: envOf(1), args: [...args, '--bootstrap', boot] });
    running.push(b);
    // The two members find each other over mutual TLS.
    await waitFor(
      async () =>
        (await a.get<{ net: { peers: { nodeId: string; state: string; member: boolean }[] } }>('/status')).net.peers.some(
          (p) => p.nodeId === homes[1]!.nodeId && p.state === 'live' && p.member,
        ),
      30_000,
      'a to see b live over mutual TLS',
    );

    const st = await a.get<{ listen: { grpc: string }; net: { tls: { certSha256: string } } }>('/status');
    const target: PeerTarget = {
      nodeId: homes[0]!.nodeId,
      grpcAddress: st.listen.grpc,
      certSha256: Buffer.from(st.net.tls.certSha256, 'hex'),
    };
    const client = (claimed: string, clientCert?: { certPem: string; keyPem: string }) => {
      const c = new PeerClient(target, {
        signer: hmacSigner(Buffer.from(SECRET), claimed),
        verifier: new EnvelopeVerifier({ mode: 'hmac', secret: Buffer.from(SECRET), windowMs: 300_000, nonces: new NonceCache(100) }),
        opts: {
          chunkBytes: 65536,
          callDeadlineMs: 5000,
          blobDeadlineMs: 10_000,
          caPem: ca.cert.toString('pem'),
          ...(clientCert ? { clientCert } : {}),
        },
      });
      clients.push(c);
      return c;
    };
    assert.equal(certSha256OfPem(files[0]!.certPem).toString('hex'), st.net.tls.certSha256, 'a serves its CA-signed certificate');

    // 1. No client certificate: the TLS handshake itself refuses (no handler runs).
    await refused(client(homes[1]!.nodeId).getPeers(1), grpc.status.UNAVAILABLE);
    // 2. A thief with the cluster secret and a CA-signed certificate of its own calls as member b: refused.
    const thief = await issue(ca, 'node-7417000000000000', '99');
    await refused(
      client(homes[1]!.nodeId, thief).heartbeat({ seq: 1, tier: 'gpu_compute', roles: ['trainer'] }),
      grpc.status.PERMISSION_DENIED,
      'cert_identity_mismatch',
    );
    // 3. The thief as itself (a nodeId the cluster does not list) may say nothing that moves a round.
    const self = client('node-7417000000000000', thief);
    await refused(
      self.announceRound({
        round: 0,
        innerSteps: 1,
        deadlineMs: Date.now() + 60_000,
        baseCheckpointSha256: 'aa'.repeat(32),
        leader: 'node-7417000000000000',
        eligible: [],
        baseManifest: '',
        failedLeaders: [],
      }),
      grpc.status.PERMISSION_DENIED,
      'not_member',
    );
    // b, the real member, still heartbeats over its own channel.
    await waitFor(
      async () =>
        (await a.get<{ net: { peers: { nodeId: string; lastHeartbeatAgoSeconds: number | null }[] } }>('/status')).net.peers.some(
          (p) => p.nodeId === homes[1]!.nodeId && (p.lastHeartbeatAgoSeconds ?? 99) <= 3,
        ),
      15_000,
      'b heartbeating after the attacks',
    );
    const metrics = await (await a.fetch(`/metrics`)).text();
    for (const reason of ['cert_identity_mismatch', 'not_member'])
      assert.match(metrics, new RegExp(`magnet_net_refused_total\\{[^}]*reason="${reason}"[^}]*\\} [1-9]`));
    assert.ok(a.output().includes(`from ${homes[1]!.nodeId}`), 'the refusal names the nodeId the thief claimed');
    for (const d of [a, b]) assert.equal(await d.stop(), 0);
  },
);
