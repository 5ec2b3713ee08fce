import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SigningKey, Wallet, computeAddress } from 'ethers';
import { nodeIdFromPublicKey } from '../../daemon/src/identity/node-id.js';
import { signBinding } from '../../daemon/src/net/binding.js';
import { PeerClient, RpcError, type PeerTarget } from '../../daemon/src/net/client.js';
import {
  type Envelope,
  EnvelopeVerifier,
  envelopeToPairs,
  hmacSigner,
  NonceCache,
  walletSigner,
  type EnvelopeSigner,
} from '../../daemon/src/net/envelope.js';
import type { HelloMsg } from '../../daemon/src/net/proto.js';
import { certFingerprint } from '../../daemon/src/net/tls.js';
import { wholeBlobManifest } from '../../daemon/src/storage/manifest.js';
import { type RunningDaemon, startDaemon, testEnv, waitFor } from './daemon.js';

/**
 * The net-security e2e tests (net-security-*.test.ts) play hostile peers against real daemons over real gRPC/TLS:
 * the daemons they attack, and the peers, requests and checks they are made of. Each peer has its own fresh wallet
 * key, so per-peer rate limits never mix cases.
 */

export const SECRET = 'cluster-secret-for-tests-0123456789';
/** Fast heartbeats, a low control-plane rate limit (2/s, burst 5) and an 8 MiB blob limit, for the cases to hit. */
export const BASE_ENV = {
  MAGNET_HEARTBEAT: '1',
  MAGNET_PEER_STALE: '5',
  MAGNET_CONTROL_RATE: '2',
  MAGNET_CONTROL_BURST: '5',
  MAGNET_MAX_BLOB_BYTES: String(8 * 1024 * 1024),
};

/** A wallet-mode daemon listing `memberKeys` as members (a non-member is refused before any data-plane check). */
export function startWalletTarget(memberKeys: SigningKey[]): Promise<RunningDaemon> {
  const members = ['--members', memberKeys.map((k) => nodeIdFromPublicKey(k.compressedPublicKey)).join(',')];
  return startDaemon({ env: testEnv(BASE_ENV), args: ['--no-ssd-test', ...members] });
}

/** A cluster-HMAC daemon with SECRET. */
export function startHmacTarget(): Promise<RunningDaemon> {
  return startDaemon({ env: testEnv({ ...BASE_ENV, MAGNET_AUTH_MODE: 'hmac', MAGNET_CLUSTER_SECRET: SECRET }), args: ['--no-ssd-test'] });
}

export interface Status {
  nodeId: string;
  listen: { p2p: string[]; grpc: string };
  net: { tls: { certSha256: string }; peers: { nodeId: string; state: string }[] };
  network: { id: string };
}

/** A daemon as a peer's client dials it, with the auth mode its answers are signed in. */
export interface HostileTarget extends PeerTarget {
  auth: 'wallet' | 'hmac';
  /** The daemon's network id: a Hello must name it to be accepted. */
  networkId: string;
}

export async function targetOf(d: RunningDaemon, auth: 'wallet' | 'hmac' = 'wallet'): Promise<HostileTarget> {
  const st = await d.get<Status>('/status');
  return {
    nodeId: st.nodeId,
    grpcAddress: st.listen.grpc,
    certPem: readFileSync(join(d.home, 'tls', 'cert.pem'), 'utf8'),
    certSha256: Buffer.from(st.net.tls.certSha256, 'hex'),
    auth,
    networkId: st.network.id,
  };
}

/** Makes hostile (or honest) peers and closes their clients at the end. */
export class HostilePeers {
  private readonly clients: PeerClient[] = [];

  /** `memberKeys`: keys the wallet daemon lists as members, each handed out once. */
  constructor(private readonly memberKeys: SigningKey[]) {}

  /**
   * A fresh peer: its key, nodeId, and a client to `target` signing with `signer`. With `member`, its key is one
   * the wallet daemon lists as a member.
   */
  peer(target: HostileTarget, mode: 'wallet' | 'hmac' = 'wallet', secret = SECRET, member = false) {
    const key = member ? (this.memberKeys.shift() as SigningKey) : new SigningKey(Wallet.createRandom().privateKey);
    const nodeId = nodeIdFromPublicKey(key.compressedPublicKey);
    const signer: EnvelopeSigner = mode === 'wallet' ? walletSigner(key, nodeId) : hmacSigner(Buffer.from(secret), nodeId);
    const verifier = new EnvelopeVerifier({
      mode: target.auth,
      windowMs: 300_000,
      nonces: new NonceCache(1000),
      ...(target.auth === 'hmac' ? { secret: Buffer.from(SECRET) } : {}),
    });
    const client = new PeerClient(target, {
      signer,
      verifier,
      opts: { chunkBytes: 256 * 1024, callDeadlineMs: 10_000, blobDeadlineMs: 30_000 },
    });
    this.clients.push(client);
    return { key, nodeId, signer, client };
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

/**
 * Places `data` on the target as a member does: its signed manifest (a one-shard one of its own) first, then the
 * bytes as that manifest's shard. `claimed` pushes other bytes under the hash the manifest lists.
 */
export async function placeWhole(p: { key: SigningKey; client: PeerClient }, data: Buffer, claimed?: Buffer) {
  const m = wholeBlobManifest(claimed ?? data, p.key, [p.client.target.nodeId]);
  await p.client.putBlob({ data: m.bytes, sha256: m.id, size: m.bytes.length }, { purpose: 'manifest' });
  const sha = createHash('sha256')
    .update(claimed ?? data)
    .digest('hex');
  return p.client.putBlob({ data, sha256: sha, size: data.length }, { purpose: 'shard', manifestId: m.id });
}

/** The envelope as gRPC metadata, its pairs edited by `edit` (to drop or break a field). */
export function metadata(env: Envelope, edit?: (pairs: [string, string][]) => [string, string][]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of edit ? edit(envelopeToPairs(env)) : envelopeToPairs(env)) md.set(k, v);
  return md;
}

/** Sends and expects a refusal with `code` whose details start with `reason`. */
export async function refused(p: Promise<unknown>, code: grpc.status, reason: string): Promise<RpcError> {
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

/**
 * A Hello describing `nodeId` with `certPem`, the certificate binding signed by `bindingKey` (its own key or another's),
 * in network `networkId` (a daemon accepts only its own: HostileTarget.networkId).
 */
export function helloOf(
  nodeId: string,
  certPem: string,
  bindingKey: SigningKey,
  address = computeAddress(bindingKey.publicKey),
  networkId = '',
): HelloMsg {
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
      networkId,
    },
    certPem,
    binding,
  };
}

/**
 * Each refusal was logged naming its sender (`reasons`: case -> sender nodeId), and counted by each of `metricReasons`
 * in /metrics of `daemons`.
 */
export async function assertLoggedAndCounted(
  daemons: RunningDaemon[],
  reasons: Map<string, string>,
  metricReasons: string[],
): Promise<void> {
  // The refusal reaches the caller before the daemon's log line has crossed its stdout pipe: give the pipe a moment.
  const missing = () => {
    const logs = daemons.map((d) => d.output()).join('');
    return [...reasons].filter(([, sender]) => !logs.includes(`from ${sender}`));
  };
  await waitFor(() => missing().length === 0, 5000, 'the refusal log lines').catch(() => undefined);
  for (const [name, sender] of missing()) assert.fail(`log line naming ${sender} (${name})`);
  let metrics = '';
  for (const d of daemons) metrics += await (await d.fetch(`/metrics`)).text();
  for (const reason of metricReasons) {
    assert.match(metrics, new RegExp(`magnet_net_refused_total\\{[^}]*reason="${reason}"[^}]*\\} [1-9]`), `metric for ${reason}`);
  }
}
