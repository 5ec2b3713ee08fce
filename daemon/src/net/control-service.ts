import * as grpc from '@grpc/grpc-js';
import { type Audience, type CallCtx, decodeOr, type RpcGuard } from './guard.js';
import {
  type Codec,
  codecs,
  METHODS,
  type GradientCheckMsg,
  type GradientCheckRequestMsg,
  type GradientReadyMsg,
  type HeartbeatRequestMsg,
  type HelloMsg,
  type LatestRequestMsg,
  type LineageMsg,
  type LineageRequestMsg,
  type PeerInfoMsg,
  type ResearchMessageMsg,
  type RoundAckMsg,
  type RoundAnnouncementMsg,
  type RoundOutcomeMsg,
  type VoteBundleMsg,
} from './proto.js';
import { Refusal, RpcStatus } from './refusal.js';

/** What the Control service needs from the net part. */
export interface ControlHost {
  /** Our own Hello (info, certificate, binding). */
  selfHello(): HelloMsg;
  /** Verifies and records a caller's Hello; throws Refusal (bad_field, bad_binding, cert_pin_mismatch). */
  acceptHello(ctx: CallCtx, msg: HelloMsg): void;
  /** Records a heartbeat; throws Refusal('unknown_peer') when the caller never said Hello. */
  acceptHeartbeat(ctx: CallCtx, msg: HeartbeatRequestMsg): void;
  livePeers(limit: number, except: string): PeerInfoMsg[];
}

/**
 * Handlers for the round messages, set by the DiLoCo part; absent ones answer UNIMPLEMENTED. They receive the
 * authenticated caller and may throw Refusal (a malformed field): the guard then answers INVALID_ARGUMENT.
 */
export interface RoundHandlers {
  announceRound?: (from: string, msg: RoundAnnouncementMsg) => Promise<RoundAckMsg>;
  signalGradientReady?: (from: string, msg: GradientReadyMsg) => Promise<RoundAckMsg>;
  checkGradient?: (from: string, msg: GradientCheckRequestMsg) => Promise<GradientCheckMsg>;
  submitVote?: (from: string, msg: VoteBundleMsg) => Promise<RoundAckMsg>;
  publishOutcome?: (from: string, msg: RoundOutcomeMsg) => Promise<RoundAckMsg>;
  getLatest?: (from: string, msg: LatestRequestMsg) => Promise<RoundAckMsg>;
  getLineage?: (from: string, msg: LineageRequestMsg) => Promise<LineageMsg>;
}

/** Handlers for the research messages, set by the research part; absent ones answer UNIMPLEMENTED. Members only. */
export interface ResearchHandlers {
  offerTrial?: (from: string, msg: ResearchMessageMsg) => Promise<RoundAckMsg>;
  reportTrial?: (from: string, msg: ResearchMessageMsg) => Promise<RoundAckMsg>;
  creditTrials?: (from: string, msg: ResearchMessageMsg) => Promise<RoundAckMsg>;
}

export function controlImplementation(
  guard: RpcGuard,
  host: ControlHost,
  rounds: RoundHandlers,
  maxPeersAnswer: number,
  research: ResearchHandlers = {},
): grpc.UntypedServiceImplementation {
  /** A round RPC: members only unless `audience` opens it (public reads). */
  const round = <T, R>(
    method: string,
    codec: Codec<T>,
    answer: Codec<R>,
    pick: () => ((from: string, m: T) => Promise<R>) | undefined,
    audience: Audience = 'member',
  ) =>
    guard.unary(
      method,
      true,
      async (ctx, body) => {
        const msg = decodeOr(codec.decode, body, method, ctx.nodeId);
        const fn = pick();
        if (!fn) throw new RpcStatus(grpc.status.UNIMPLEMENTED, `${method} is not implemented by this node yet`);
        return answer.encode(await fn(ctx.nodeId, msg));
      },
      audience,
    );
  const ack = codecs.RoundAck;
  return {
    Hello: guard.unary(
      METHODS.hello,
      true,
      async (ctx, body) => {
        host.acceptHello(ctx, decodeOr(codecs.HelloRequest.decode, body, 'HelloRequest', ctx.nodeId));
        return codecs.HelloResponse.encode(host.selfHello());
      },
      'anyone',
    ),
    Heartbeat: guard.unary(
      METHODS.heartbeat,
      true,
      async (ctx, body) => {
        const msg = decodeOr(codecs.HeartbeatRequest.decode, body, 'HeartbeatRequest', ctx.nodeId);
        host.acceptHeartbeat(ctx, msg);
        return codecs.HeartbeatResponse.encode({ seq: msg.seq, timeMs: Date.now() });
      },
      'anyone',
    ),
    GetPeers: guard.unary(
      METHODS.getPeers,
      true,
      async (ctx, body) => {
        const msg = decodeOr(codecs.GetPeersRequest.decode, body, 'GetPeersRequest', ctx.nodeId);
        const limit = msg.limit > 0 ? Math.min(msg.limit, maxPeersAnswer) : maxPeersAnswer;
        return codecs.GetPeersResponse.encode({ peers: host.livePeers(limit, ctx.nodeId) });
      },
      'anyone',
    ),
    AnnounceRound: round(METHODS.announceRound, codecs.RoundAnnouncement, ack, () => rounds.announceRound),
    SignalGradientReady: round(METHODS.signalGradientReady, codecs.GradientReady, ack, () => rounds.signalGradientReady),
    CheckGradient: round(METHODS.checkGradient, codecs.GradientCheckRequest, codecs.GradientCheck, () => rounds.checkGradient),
    SubmitVote: round(METHODS.submitVote, codecs.VoteBundle, ack, () => rounds.submitVote),
    PublishOutcome: round(METHODS.publishOutcome, codecs.RoundOutcome, ack, () => rounds.publishOutcome),
    GetLatest: round(METHODS.getLatest, codecs.LatestRequest, ack, () => rounds.getLatest, 'anyone'),
    GetLineage: round(METHODS.getLineage, codecs.LineageRequest, codecs.Lineage, () => rounds.getLineage, 'anyone'),
    // A trial costs its trainer minutes of compute and its result steers a search: members only, both ways.
    OfferTrial: round(METHODS.offerTrial, codecs.ResearchMessage, ack, () => research.offerTrial),
    ReportTrial: round(METHODS.reportTrial, codecs.ResearchMessage, ack, () => research.reportTrial),
    CreditTrials: round(METHODS.creditTrials, codecs.ResearchMessage, ack, () => research.creditTrials),
  };
}

export { Refusal };
