import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { REPO_ROOT } from '../version.js';

/**
 * The magnet.v1 services. proto-loader gives the service shapes (paths, streaming flags); the messages are
 * encoded and decoded by us with protobufjs, because the envelope signs the exact request bytes: grpc-js
 * only ever sees Buffers (identity serializers), so what was signed is what travels.
 */
export const PROTO_DIR = join(REPO_ROOT, 'proto');
const FILES = ['magnet/v1/common.proto', 'magnet/v1/control.proto', 'magnet/v1/data.proto'];

export interface PeerInfoMsg {
  nodeId: string;
  address: string;
  peerId: string;
  multiaddrs: string[];
  grpcAddress: string;
  tier: string;
  roles: string[];
  version: string;
  /** The network the peer says it is in (a spec's id); checked last in a Hello, after the key and certificate. */
  networkId: string;
}
export interface CertBindingMsg {
  nodeId: string;
  certSha256: Buffer;
  signature: Buffer;
}
export interface HelloMsg {
  self: PeerInfoMsg | null;
  certPem: string;
  binding: CertBindingMsg | null;
}
export interface HeartbeatRequestMsg {
  seq: number;
  tier: string;
  roles: string[];
}
export interface HeartbeatResponseMsg {
  seq: number;
  timeMs: number;
}
export interface GetPeersRequestMsg {
  limit: number;
}
export interface GetPeersResponseMsg {
  peers: PeerInfoMsg[];
}
export interface RoundAnnouncementMsg {
  round: number;
  innerSteps: number;
  deadlineMs: number;
  baseCheckpointSha256: string;
  leader: string;
  eligible: string[];
  baseManifest: string;
  failedLeaders: string[];
}
export interface GradientReadyMsg {
  round: number;
  sha256: string;
  cid: string;
  localLoss: number;
  tokens: number;
  steps: number;
  size: number;
  baseCheckpointSha256: string;
  lossBefore: number;
  compression: string;
  statementSignature: Buffer;
}
export interface GradientStatementMsg {
  nodeId: string;
  sha256: string;
  size: number;
  signature: Buffer;
}
export interface GradientCheckRequestMsg {
  round: number;
  baseSha256: string;
  sha256: string;
  size: number;
  manifestId: string;
  statementSignature: Buffer;
}
export interface GradientCheckMsg {
  round: number;
  baseSha256: string;
  sha256: string;
  subject: string;
  checker: string;
  accepted: boolean;
  reason: string;
  signature: Buffer;
}
export interface ProposalBasisMsg {
  leader: string;
  leaderCheck: GradientCheckMsg | null;
  signature: Buffer;
}
export interface OutcomeProposalMsg {
  round: number;
  leader: string;
  parentSha256: string;
  merged: boolean;
  sha256: string;
  manifestId: string;
  contributions: GradientStatementMsg[];
  leaderCheck: GradientCheckMsg | null;
  note: string;
  basis: ProposalBasisMsg | null;
  signature: Buffer;
  damping: number;
}
export interface OutcomeVoteMsg {
  voter: string;
  signature: Buffer;
}
export interface VoteBundleMsg {
  proposal: OutcomeProposalMsg | null;
  votes: OutcomeVoteMsg[];
}
export interface LatestRequestMsg {
  round: number;
}
export interface ContributionReceiptMsg {
  nodeId: string;
  node: string;
  epoch: number;
  round: number;
  checkpointHash: Buffer;
  gradientHash: Buffer;
  tokens: number;
  score: number;
  leader: string;
  leaderSignature: Buffer;
  leaf?: RoundLeafProofMsg | null;
}
export interface RoundLeafProofMsg {
  index: number;
  root: Buffer;
  proof: Buffer[];
}
export interface RoundOutcomeMsg {
  proposal: OutcomeProposalMsg | null;
  votes: OutcomeVoteMsg[];
  receipts: ContributionReceiptMsg[];
}
export interface LineageRequestMsg {
  afterRound: number;
  limit: number;
}
export interface LineageMsg {
  outcomes: RoundOutcomeMsg[];
}
/** A signed research record (research/records.ts): canonical JSON and its author's wallet signature. */
export interface ResearchMessageMsg {
  kind: string;
  body: Buffer;
  signature: Buffer;
}
export interface RoundAckMsg {
  accepted: boolean;
  reason: string;
  hasLatest?: boolean;
  latestRound?: number;
  latestSha256?: string;
  latestManifest?: string;
  currentRound?: number;
}
export interface BlobHeaderMsg {
  sha256: string;
  size: number;
  offset: number;
}
/** PutBlobHeader: the blob, and the placement that puts it on the receiver (see data.proto). */
export interface PutBlobHeaderMsg extends BlobHeaderMsg {
  purpose?: string;
  manifestId?: string;
  round?: number;
  holder?: string;
}
export interface BlobChunkMsg {
  offset: number;
  data: Buffer;
}
export interface PutBlobResponseMsg {
  sha256: string;
  size: number;
  alreadyPresent: boolean;
}
export interface GetBlobRequestMsg {
  sha256: string;
  offset: number;
}
export interface StatBlobRequestMsg {
  sha256: string;
}
export interface StatBlobResponseMsg {
  present: boolean;
  size: number;
  staged: number;
}
export interface ReleaseBlobRequestMsg {
  manifestId: string;
  holder: string;
}
export interface ReleaseBlobResponseMsg {
  released: number;
  bytes: number;
  kept: number;
}

/** Encodes and decodes one message type; decode throws on malformed or truncated bytes. */
export interface Codec<T> {
  encode(value: T): Buffer;
  decode(bytes: Uint8Array): T;
}

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
root.loadSync(FILES, { keepCase: false });
root.resolveAll();

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: Buffer, defaults: true, arrays: true };

function codec<T>(name: string): Codec<T> {
  const type = root.lookupType(`magnet.v1.${name}`);
  return {
    encode(value: T): Buffer {
      const err = type.verify(value as Record<string, unknown>);
      if (err) throw new TypeError(`${name}: ${err}`);
      const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    decode(bytes: Uint8Array): T {
      // A plain Uint8Array view, not a Buffer: protobufjs' Buffer reader clamps over-long strings instead of
      // throwing, so a truncated message would decode "successfully"; the generic reader checks every length.
      const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return type.toObject(type.decode(view), TO_OBJECT) as T;
    },
  };
}

/**
 * BlobChunk by hand: it carries every data-plane byte, so it skips protobufjs' object conversion (one copy on
 * encode, none on decode) and hands out Buffers. Same wire format as data.proto; unknown fields are skipped.
 */
const blobChunkCodec: Codec<BlobChunkMsg> = {
  encode({ offset, data }: BlobChunkMsg): Buffer {
    const head = blobChunkHead(offset, data.length);
    return Buffer.concat([head, data], head.length + data.length);
  },
  decode(bytes: Uint8Array): BlobChunkMsg {
    const r = protobuf.Reader.create(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    let offset = 0;
    let data: Buffer = Buffer.alloc(0);
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === 8) {
        const v = r.uint64();
        offset = typeof v === 'number' ? v : Number(String(v));
      } else if (tag === 18) {
        const len = r.uint32();
        if (r.pos + len > r.len)
          throw new RangeError(`BlobChunk.data runs past the end of the message (${len} bytes at ${r.pos} of ${r.len})`);
        data = Buffer.from(bytes.buffer, bytes.byteOffset + r.pos, len);
        r.pos += len;
      } else r.skipType(tag & 7);
    }
    if (!Number.isSafeInteger(offset)) throw new RangeError('BlobChunk.offset is out of range');
    return { offset, data };
  },
};

/** The bytes of a BlobChunk before its data: offset, then the data field's tag and length (a sender fills in the rest). */
export function blobChunkHead(offset: number, length: number): Uint8Array {
  const w = protobuf.Writer.create();
  if (offset !== 0) w.uint32(8).uint64(offset);
  return w.uint32(18).uint32(length).finish();
}

export const codecs = {
  PeerInfo: codec<PeerInfoMsg>('PeerInfo'),
  HelloRequest: codec<HelloMsg>('HelloRequest'),
  HelloResponse: codec<HelloMsg>('HelloResponse'),
  HeartbeatRequest: codec<HeartbeatRequestMsg>('HeartbeatRequest'),
  HeartbeatResponse: codec<HeartbeatResponseMsg>('HeartbeatResponse'),
  GetPeersRequest: codec<GetPeersRequestMsg>('GetPeersRequest'),
  GetPeersResponse: codec<GetPeersResponseMsg>('GetPeersResponse'),
  RoundAnnouncement: codec<RoundAnnouncementMsg>('RoundAnnouncement'),
  GradientReady: codec<GradientReadyMsg>('GradientReady'),
  GradientCheckRequest: codec<GradientCheckRequestMsg>('GradientCheckRequest'),
  GradientCheck: codec<GradientCheckMsg>('GradientCheck'),
  OutcomeProposal: codec<OutcomeProposalMsg>('OutcomeProposal'),
  VoteBundle: codec<VoteBundleMsg>('VoteBundle'),
  RoundOutcome: codec<RoundOutcomeMsg>('RoundOutcome'),
  LineageRequest: codec<LineageRequestMsg>('LineageRequest'),
  Lineage: codec<LineageMsg>('Lineage'),
  LatestRequest: codec<LatestRequestMsg>('LatestRequest'),
  RoundAck: codec<RoundAckMsg>('RoundAck'),
  ResearchMessage: codec<ResearchMessageMsg>('ResearchMessage'),
  PutBlobHeader: codec<PutBlobHeaderMsg>('PutBlobHeader'),
  GetBlobHeader: codec<BlobHeaderMsg>('GetBlobHeader'),
  BlobChunk: blobChunkCodec,
  PutBlobResponse: codec<PutBlobResponseMsg>('PutBlobResponse'),
  GetBlobRequest: codec<GetBlobRequestMsg>('GetBlobRequest'),
  StatBlobRequest: codec<StatBlobRequestMsg>('StatBlobRequest'),
  StatBlobResponse: codec<StatBlobResponseMsg>('StatBlobResponse'),
  ReleaseBlobRequest: codec<ReleaseBlobRequestMsg>('ReleaseBlobRequest'),
  ReleaseBlobResponse: codec<ReleaseBlobResponseMsg>('ReleaseBlobResponse'),
};

const pkg = protoLoader.loadSync(FILES, { includeDirs: [PROTO_DIR], keepCase: false });

const identity = (b: Buffer): Buffer => b;

/** A service definition whose messages are raw Buffers (see the note at the top). */
function rawService(name: string): grpc.ServiceDefinition {
  const def = pkg[`magnet.v1.${name}`] as protoLoader.ServiceDefinition | undefined;
  if (!def) throw new Error(`proto: service magnet.v1.${name} not found in ${PROTO_DIR}`);
  const out: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  for (const [key, m] of Object.entries(def)) {
    out[key] = {
      path: m.path,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      originalName: m.originalName ?? key,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
  }
  return out as grpc.ServiceDefinition;
}

export const controlService = rawService('Control');
export const dataService = rawService('Data');

/** Full gRPC method paths, the `method` the envelope signs. */
export const METHODS = {
  hello: '/magnet.v1.Control/Hello',
  heartbeat: '/magnet.v1.Control/Heartbeat',
  getPeers: '/magnet.v1.Control/GetPeers',
  announceRound: '/magnet.v1.Control/AnnounceRound',
  signalGradientReady: '/magnet.v1.Control/SignalGradientReady',
  checkGradient: '/magnet.v1.Control/CheckGradient',
  submitVote: '/magnet.v1.Control/SubmitVote',
  publishOutcome: '/magnet.v1.Control/PublishOutcome',
  getLatest: '/magnet.v1.Control/GetLatest',
  getLineage: '/magnet.v1.Control/GetLineage',
  offerTrial: '/magnet.v1.Control/OfferTrial',
  reportTrial: '/magnet.v1.Control/ReportTrial',
  creditTrials: '/magnet.v1.Control/CreditTrials',
  putBlob: '/magnet.v1.Data/PutBlob',
  getBlob: '/magnet.v1.Data/GetBlob',
  statBlob: '/magnet.v1.Data/StatBlob',
  releaseBlob: '/magnet.v1.Data/ReleaseBlob',
} as const;
export type MethodPath = (typeof METHODS)[keyof typeof METHODS];
