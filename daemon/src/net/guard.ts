import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger.js';
import { type EnvelopeSigner, EnvelopeError, type EnvelopeVerifier, envelopeFromPairs, envelopeToPairs, signEnvelope } from './envelope.js';
import { CallLimiter, type CallLimitOptions } from './call-limits.js';
import type { NetMetrics } from './metrics.js';
import { Refusal, type RefusalReason, RpcStatus } from './refusal.js';

/** Who called, once the envelope verified. */
export interface CallCtx {
  nodeId: string;
  /** Remote transport address (ip:port), for logs. */
  peer: string;
  method: string;
  nonce: Buffer;
  /** sha256 of the TLS client certificate the caller presented (operator PKI mode requires one). */
  certSha256?: Buffer;
}

export interface GuardOptions extends CallLimitOptions {
  maxControlBytes: number;
}

/** Refusals a flood repeats: logged once per sender and reason per LOG_EVERY_MS, with the count in between. */
const QUIET: ReadonlySet<RefusalReason> = new Set(['rate_limited', 'ip_rate_limited', 'peer_nonce_limit', 'nonce_cache_full']);
const LOG_EVERY_MS = 10_000;

/** Who may call a method once authenticated: any key, or only the network's members. */
export type Audience = 'anyone' | 'member';

/** The authorization the guard asks about every caller (the net part answers from the membership view). */
export interface CallerAccess {
  isMember(nodeId: string): boolean;
  /**
   * Operator PKI only: the certificate fingerprint known for `nodeId` (from its wallet-bound Hello); undefined
   * when it never said Hello. Every call must come over a TLS channel with that client certificate.
   */
  certOf?(nodeId: string): Buffer | undefined;
}

/** sha256 of the TLS client certificate of a call, when it presented one. */
export function clientCertOf(call: { getAuthContext?: () => { sslPeerCertificate?: { raw?: Buffer } } }): Buffer | undefined {
  const raw = call.getAuthContext?.().sslPeerCertificate?.raw;
  return raw ? createHash('sha256').update(raw).digest() : undefined;
}

/**
 * The one place that authenticates calls, applies limits and turns refusals into a gRPC status, a log line naming
 * the sender and a metric. Handlers throw `Refusal`; anything else is an internal error.
 */
export class RpcGuard {
  private readonly limits: CallLimiter;
  /** Last log line of a QUIET refusal per sender and reason, and how many were not logged since. */
  private readonly quiet = new Map<string, { at: number; skipped: number }>();

  constructor(
    private readonly opts: GuardOptions,
    private readonly verifier: EnvelopeVerifier,
    private readonly signer: EnvelopeSigner,
    private readonly log: Logger,
    private readonly metrics: NetMetrics,
    private readonly access: CallerAccess,
    private readonly now: () => number = Date.now,
  ) {
    this.limits = new CallLimiter(opts);
  }

  /**
   * Limits, then the envelope of `body` (the request bytes, or the signed stream header). The rate limits come
   * first, keyed by the claimed nodeId and the remote address, so a flood costs neither a signature check nor a
   * nonce; the nonce is stored only once the signature verified.
   */
  authenticate(method: string, md: grpc.Metadata, body: Uint8Array, peer: string, control: boolean, certSha256?: Buffer): CallCtx {
    const get = (k: string): string | undefined => {
      const v = md.get(k);
      return v.length === 1 && typeof v[0] === 'string' ? v[0] : undefined;
    };
    const claimed = get('magnet-node');
    this.limits.check(peer, claimed?.slice(0, 64), this.now());
    if (control && body.length > this.opts.maxControlBytes) {
      throw new Refusal(
        'oversize',
        `message of ${body.length} bytes exceeds the control-plane limit of ${this.opts.maxControlBytes}`,
        claimed,
      );
    }
    try {
      const env = envelopeFromPairs(get);
      const { nodeId } = this.verifier.verify('request', method, env, body, this.now());
      const ctx: CallCtx = { nodeId, peer, method, nonce: env.nonce, ...(certSha256 ? { certSha256 } : {}) };
      this.checkChannel(ctx);
      return ctx;
    } catch (err) {
      if (err instanceof EnvelopeError) throw new Refusal(err.reason, err.message, err.claimedNodeId ?? claimed);
      throw err;
    }
  }

  /**
   * Operator PKI: the TLS client certificate must be the one the caller's wallet bound to its nodeId in its Hello
   * (Hello itself is checked against the certificate it carries, in the net part). A member holding the cluster's
   * HMAC secret cannot call as another member this way.
   */
  private checkChannel(ctx: CallCtx): void {
    if (!this.access.certOf || ctx.method.endsWith('/Hello')) return;
    if (!ctx.certSha256)
      throw new Refusal('cert_identity_mismatch', 'operator PKI mode: the call carries no client certificate', ctx.nodeId);
    const known = this.access.certOf(ctx.nodeId);
    if (!known && !this.access.isMember(ctx.nodeId))
      throw new Refusal(
        'not_member',
        `${ctx.nodeId} is not a member of this cluster and has not said Hello (operator PKI mode binds every call to a known certificate)`,
        ctx.nodeId,
      );
    if (!known)
      throw new Refusal('unknown_peer', 'say Hello first (operator PKI mode binds every call to a known certificate)', ctx.nodeId);
    if (!known.equals(ctx.certSha256))
      throw new Refusal(
        'cert_identity_mismatch',
        `the call is signed as ${ctx.nodeId} over a TLS channel with another node's certificate`,
        ctx.nodeId,
      );
  }

  /** Authorization after authentication: members-only methods refuse every other key. */
  authorize(ctx: CallCtx, audience: Audience): void {
    if (audience === 'member' && !this.access.isMember(ctx.nodeId)) {
      throw new Refusal('not_member', `${ctx.method} is for members of this network; ${ctx.nodeId} is not one`, ctx.nodeId);
    }
  }

  /** True when the caller is a member (for methods open to anyone that show members more). */
  isMember(nodeId: string): boolean {
    return this.access.isMember(nodeId);
  }

  /** Signs an answer: same method, our nodeId, the request's nonce. */
  signResponse(ctx: CallCtx, body: Uint8Array, extra?: grpc.Metadata): grpc.Metadata {
    const md = extra ?? new grpc.Metadata();
    for (const [k, v] of envelopeToPairs(signEnvelope(this.signer, 'response', ctx.method, body, { nonce: ctx.nonce }))) md.set(k, v);
    return md;
  }

  /** Logs and counts a failed call; returns the status to send. */
  fail(method: string, peer: string, err: unknown, sender?: string): Partial<grpc.StatusObject> {
    if (err instanceof Refusal) {
      const who = err.sender ?? sender ?? 'unknown';
      this.metrics.refused.inc({ method, reason: err.reason });
      this.metrics.rpcServed.inc({ method, code: grpc.status[err.code] });
      const skipped = this.skipLog(who, err.reason);
      if (skipped !== undefined)
        this.log.warn(
          { sender: who, remote: peer, method, reason: err.reason, ...(skipped > 0 ? { notLogged: skipped } : {}) },
          `refused ${method} from ${who} (${peer}): ${err.message}${skipped > 0 ? ` (${skipped} more like it since the last line)` : ''}`,
        );
      return { code: err.code, details: `${err.reason}: ${err.message}` };
    }
    if (err instanceof RpcStatus) {
      this.metrics.rpcServed.inc({ method, code: grpc.status[err.code] });
      return { code: err.code, details: err.message };
    }
    this.metrics.rpcServed.inc({ method, code: 'INTERNAL' });
    this.log.error({ err, sender: sender ?? 'unknown', remote: peer, method }, `internal error serving ${method}`);
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }

  /** undefined: do not log this one; else how many like it were not logged since the last line. */
  private skipLog(sender: string, reason: RefusalReason): number | undefined {
    if (!QUIET.has(reason)) return 0;
    const key = `${sender}|${reason}`;
    const now = this.now();
    const q = this.quiet.get(key);
    if (q && now - q.at < LOG_EVERY_MS) {
      q.skipped++;
      return undefined;
    }
    if (this.quiet.size >= 10_000) this.quiet.clear();
    this.quiet.set(key, { at: now, skipped: 0 });
    return q?.skipped ?? 0;
  }

  metricsBytes(direction: 'in' | 'out', bytes: number): void {
    this.metrics.blobBytes.inc({ direction }, bytes);
  }

  served(method: string, startedAt: number): void {
    this.metrics.rpcServed.inc({ method, code: 'OK' });
    this.metrics.rpcSeconds.observe({ method }, (performance.now() - startedAt) / 1000);
  }

  /** Wraps a unary handler: authenticate, authorize, decode (in the handler), answer signed. */
  unary(
    method: string,
    control: boolean,
    handler: (ctx: CallCtx, body: Buffer) => Promise<Buffer>,
    audience: Audience = 'member',
  ): grpc.handleUnaryCall<Buffer, Buffer> {
    return (call, callback) => {
      const t0 = performance.now();
      const peer = call.getPeer();
      let ctx: CallCtx | undefined;
      void (async () => {
        ctx = this.authenticate(method, call.metadata, call.request, peer, control, clientCertOf(call));
        this.authorize(ctx, audience);
        const out = await handler(ctx, call.request);
        call.sendMetadata(this.signResponse(ctx, out));
        callback(null, out);
        this.served(method, t0);
      })().catch((err: unknown) => callback(this.fail(method, peer, err, ctx?.nodeId)));
    };
  }
}

/** Decodes a message or refuses it as bad_protobuf. */
export function decodeOr<T>(decode: (b: Uint8Array) => T, body: Uint8Array, what: string, sender: string): T {
  try {
    return decode(body);
  } catch (err) {
    throw new Refusal(
      'bad_protobuf',
      `${what} is not a valid protobuf message (${err instanceof Error ? err.message : String(err)})`,
      sender,
    );
  }
}
