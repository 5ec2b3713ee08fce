import type { NetOptions } from './options.js';
import type { NodeIdentity } from '../identity/identity.js';
import type { Logger } from '../log/logger.js';
import { ConfigError, MagnetError } from '../util/errors.js';
import { type CertBinding, signBinding } from './binding.js';
import type { ClientOptions } from './client.js';
import { type EnvelopeSigner, EnvelopeVerifier, hmacSigner, NonceCache, walletSigner } from './envelope.js';
import { loadOrCreateTls, type TlsMaterial } from './tls.js';

export interface NetSecurityDeps {
  config: NetOptions;
  /** Where the self-signed certificate lives (`<home>/tls`). */
  tlsDir: string;
  identity: NodeIdentity;
  log: Logger;
}

interface Material {
  tls: TlsMaterial;
  binding: CertBinding;
  signer: EnvelopeSigner;
  verifier: EnvelopeVerifier;
  answerVerifier: EnvelopeVerifier;
  nonces: NonceCache;
}

/**
 * What this node proves itself with and checks others by: the TLS certificate (pinned or CA-signed), the binding
 * of that certificate to the wallet, the envelope signer, and the verifiers of calls (with the per-peer nonce
 * cache) and of answers. Loaded once, when the net part starts (the certificate may have to be created).
 */
export class NetSecurity {
  private m: Material | undefined;

  constructor(private readonly deps: NetSecurityDeps) {}

  /** `isMember`: members keep their own nonce room; throwaway keys share a bounded pool. */
  async load(isMember: (nodeId: string) => boolean): Promise<void> {
    if (this.m) return;
    const c = this.deps.config;
    const { nodeId, signingKey } = this.deps.identity;
    const tls = await loadOrCreateTls({ dir: this.deps.tlsDir, nodeId, certFile: c.tlsCert, keyFile: c.tlsKey, caFile: c.tlsCa });
    if (tls.created) this.deps.log.info({ certSha256: tls.fingerprint.toString('hex') }, 'created a self-signed TLS certificate');
    let secret: Buffer | undefined;
    let signer: EnvelopeSigner;
    if (c.authMode === 'hmac') {
      secret = Buffer.from(c.clusterSecret, 'utf8');
      if (secret.length < 16)
        throw new ConfigError('net.clusterSecret (MAGNET_CLUSTER_SECRET) must be at least 16 bytes when MAGNET_AUTH_MODE=hmac', {
          key: 'net.clusterSecret',
        });
      signer = hmacSigner(secret, nodeId);
    } else signer = walletSigner(signingKey, nodeId);
    const vopts = { mode: c.authMode, windowMs: c.windowSeconds * 1000, ...(secret ? { secret } : {}) };
    // Nonces per peer: each peer has its own cap, members never compete with throwaway keys for room.
    const nonces = new NonceCache(c.nonceCacheMax, { perPeer: c.noncesPerPeer, privileged: isMember });
    this.m = {
      tls,
      binding: signBinding(signingKey, nodeId, tls.fingerprint),
      signer,
      verifier: new EnvelopeVerifier({ ...vopts, nonces }),
      answerVerifier: new EnvelopeVerifier({ ...vopts, nonces: new NonceCache(1000) }),
      nonces,
    };
  }

  get loaded(): boolean {
    return this.m !== undefined;
  }

  private get material(): Material {
    if (!this.m) throw new MagnetError('ERR_NOT_STARTED', 'the net part has not started: no TLS or signing material yet');
    return this.m;
  }

  get tls(): TlsMaterial {
    return this.material.tls;
  }
  get binding(): CertBinding {
    return this.material.binding;
  }
  get signer(): EnvelopeSigner {
    return this.material.signer;
  }
  /** Checks incoming calls (and remembers their nonces). */
  get verifier(): EnvelopeVerifier {
    return this.material.verifier;
  }
  /** Checks the signed answers to our own calls. */
  get answerVerifier(): EnvelopeVerifier {
    return this.material.answerVerifier;
  }
  get nonces(): NonceCache | undefined {
    return this.m?.nonces;
  }

  /** Pins go into the peer book only in pinned-TLS mode (a private cluster's CA vouches instead). */
  get pinned(): boolean {
    return this.m?.tls.mode === 'pinned';
  }

  /** How our calls to peers are made: chunking, deadlines and, with a CA, our client certificate. */
  clientOptions(): ClientOptions {
    const c = this.deps.config;
    const t = this.m?.tls;
    return {
      chunkBytes: c.chunkBytes,
      callDeadlineMs: c.callDeadlineSeconds * 1000,
      blobDeadlineMs: c.blobDeadlineSeconds * 1000,
      ...(t?.caPem ? { caPem: t.caPem, clientCert: { certPem: t.certPem, keyPem: t.keyPem } } : {}),
    };
  }
}
