import * as grpc from '@grpc/grpc-js';
import { type CallCtx, decodeOr, type RpcGuard } from './guard.js';
import {
  codecs,
  METHODS,
  type GradientReadyMsg,
  type HeartbeatRequestMsg,
  type HelloMsg,
  type LatestRequestMsg,
  type LeaderProposalMsg,
  type PeerInfoMsg,
  type RoundAckMsg,
  type RoundAnnouncementMsg,
  type RoundOutcomeMsg,
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

/** Handlers for the round messages, set by the DiLoCo part; absent ones answer UNIMPLEMENTED. */
export interface RoundHandlers {
  announceRound?: (from: string, msg: RoundAnnouncementMsg) => Promise<RoundAckMsg>;
  signalGradientReady?: (from: string, msg: GradientReadyMsg) => Promise<RoundAckMsg>;
  proposeLeader?: (from: string, msg: LeaderProposalMsg) => Promise<RoundAckMsg>;
  publishOutcome?: (from: string, msg: RoundOutcomeMsg) => Promise<RoundAckMsg>;
  getLatest?: (from: string, msg: LatestRequestMsg) => Promise<RoundAckMsg>;
}

export function controlImplementation(guard: RpcGuard, host: ControlHost, rounds: RoundHandlers, maxPeersAnswer: number): grpc.UntypedServiceImplementation {
  const round = <T>(method: string, codec: { decode(b: Uint8Array): T }, pick: () => ((from: string, m: T) => Promise<RoundAckMsg>) | undefined) =>
    guard.unary(method, true, async (ctx, body) => {
      const msg = decodeOr(codec.decode, body, method, ctx.nodeId);
      const fn = pick();
      if (!fn) throw new RpcStatus(grpc.status.UNIMPLEMENTED, `${method} is not implemented by this node yet`);
      return codecs.RoundAck.encode(await fn(ctx.nodeId, msg));
    });
  return {
    Hello: guard.unary(METHODS.hello, true, async (ctx, body) => {
      host.acceptHello(ctx, decodeOr(codecs.HelloRequest.decode, body, 'HelloRequest', ctx.nodeId));
      return codecs.HelloResponse.encode(host.selfHello());
    }),
    Heartbeat: guard.unary(METHODS.heartbeat, true, async (ctx, body) => {
      const msg = decodeOr(codecs.HeartbeatRequest.decode, body, 'HeartbeatRequest', ctx.nodeId);
      host.acceptHeartbeat(ctx, msg);
      return codecs.HeartbeatResponse.encode({ seq: msg.seq, timeMs: Date.now() });
    }),
    GetPeers: guard.unary(METHODS.getPeers, true, async (ctx, body) => {
      const msg = decodeOr(codecs.GetPeersRequest.decode, body, 'GetPeersRequest', ctx.nodeId);
      const limit = msg.limit > 0 ? Math.min(msg.limit, maxPeersAnswer) : maxPeersAnswer;
      return codecs.GetPeersResponse.encode({ peers: host.livePeers(limit, ctx.nodeId) });
    }),
    AnnounceRound: round(METHODS.announceRound, codecs.RoundAnnouncement, () => rounds.announceRound),
    SignalGradientReady: round(METHODS.signalGradientReady, codecs.GradientReady, () => rounds.signalGradientReady),
    ProposeLeader: round(METHODS.proposeLeader, codecs.LeaderProposal, () => rounds.proposeLeader),
    PublishOutcome: round(METHODS.publishOutcome, codecs.RoundOutcome, () => rounds.publishOutcome),
    GetLatest: round(METHODS.getLatest, codecs.LatestRequest, () => rounds.getLatest),
  };
}

export { Refusal };
