import { SigningKey, Wallet, computeAddress } from 'ethers';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signBinding } from '../net/binding.js';
import { PeerClient } from '../net/client.js';
import { EnvelopeVerifier, NonceCache, walletSigner } from '../net/envelope.js';
import type { Peers } from '../net/peers.js';
import { certFingerprint, generateSelfSigned } from '../net/tls.js';
import { labelOf } from './labels.js';

/*
 * Throwaway identities nobody vouched for: single clients for the probes, and the Hello flood from 300 of them.
 */

/** A client to `target` signing with a throwaway key nobody vouched for. */
export function strangerClient(net: Peers, target: string): PeerClient {
  return strangerClientWith(net, target, new SigningKey(Wallet.createRandom().privateKey));
}

/**
 * 300 throwaway identities say Hello to `target`: the peer table keeps at most a few per IP range and a bounded
 * pool of strangers, so most are refused (ip_range_full, peer_table_full). They name `networkId` (the adversary's own,
 * which its targets share). Returns the counts by answer.
 */
export async function helloFlood(net: Peers, target: string, networkId: string, count = 300): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  // One certificate for every identity: each key binds it to its own nodeId (the binding is per nodeId).
  const cert = await generateSelfSigned('node-0000000000000000');
  const fingerprint = certFingerprint(cert.certPem);
  for (let i = 0; i < count; i++) {
    const key = new SigningKey(Wallet.createRandom().privateKey);
    const nodeId = nodeIdFromPublicKey(key.compressedPublicKey);
    const client = strangerClientWith(net, target, key);
    let got: string;
    try {
      const binding = signBinding(key, nodeId, fingerprint);
      await client.hello({
        self: {
          nodeId,
          address: computeAddress(key.publicKey),
          peerId: '',
          multiaddrs: [],
          grpcAddress: '127.0.0.1:9',
          tier: 'gpu_compute',
          roles: ['trainer', 'storage'],
          version: 'flood',
          networkId, // the target's own: the flood tests the peer table's bounds, not the network check
        },
        certPem: cert.certPem,
        binding,
      });
      got = 'accepted';
    } catch (err) {
      got = labelOf(err);
    } finally {
      client.close();
    }
    counts[got] = (counts[got] ?? 0) + 1;
  }
  return counts;
}

function strangerClientWith(net: Peers, target: string, key: SigningKey): PeerClient {
  const t = net.target(target);
  if (!t) throw new Error(`${target} is not known`);
  const nodeId = nodeIdFromPublicKey(key.compressedPublicKey);
  const verifier = new EnvelopeVerifier({ mode: 'wallet', windowMs: 300_000, nonces: new NonceCache(1000) });
  return new PeerClient(t, {
    signer: walletSigner(key, nodeId),
    verifier,
    opts: { chunkBytes: 256 * 1024, callDeadlineMs: 10_000, blobDeadlineMs: 30_000 },
  });
}
