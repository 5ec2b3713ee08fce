import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { SigningKey, Wallet, computeAddress } from 'ethers';
import type { Logger } from '../log/logger.js';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import type { OutcomeProposal } from '../diloco/messages.js';
import { gradientDigest, proposalDigest, voteDigest } from '../diloco/statements.js';
import { signBinding } from '../net/binding.js';
import { PeerClient, RpcError } from '../net/client.js';
import { EnvelopeVerifier, NonceCache, walletSigner } from '../net/envelope.js';
import type { NetPart } from '../net/net-part.js';
import type { GradientReadyMsg, OutcomeProposalMsg, RoundAnnouncementMsg } from '../net/proto.js';
import { certFingerprint, generateSelfSigned } from '../net/tls.js';
import { errorMessage } from '../util/errors.js';

/** What the prober knows: the net part of its own (member) node, that node's key, and its view of the round. */
export interface ProbeContext {
  net: NetPart;
  key: SigningKey;
  me: string;
  /** The round this node is at, its latest checkpoint, and who leads the round in its view. */
  round(): { round: number; latest: string; leader: string | null };
  /** The network's H (an announcement with another one is refused for that before anything else). */
  innerSteps: number;
  log: Logger;
  /** JSON lines, one per probe: { probe, target, expected, got, ok }. */
  report?: string;
}

interface Probe {
  name: string;
  /** Refusal labels that count as the right answer ("accepted" for the public reads a stranger may do). */
  expect: string[];
  run(t: string): Promise<string>;
}

const SHA = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Message-level attacks, one of each kind, against every honest member: what a stranger's key may not do, and what
 * a member may not do out of turn or out of shape. Each is sent through the project's own client with the honest
 * checks bypassed (its own signatures, fields the honest code would never fill so); the answer's refusal label is
 * compared with the expected one and written to the report.
 */
export async function runProbes(ctx: ProbeContext): Promise<{ ok: number; failed: number }> {
  const targets = ctx.net
    .peers()
    .filter((p) => p.member && p.nodeId !== ctx.me)
    .map((p) => p.nodeId);
  let ok = 0;
  let failed = 0;
  for (const p of probes(ctx)) {
    // The round-leader probes need a target that is not the leader; the others go to the first member.
    const target = p.name.startsWith('gradient to the leader')
      ? (ctx.round().leader ?? targets[0])
      : (targets.find((t) => t !== ctx.round().leader) ?? targets[0]);
    if (!target || target === ctx.me) continue;
    let got: string;
    try {
      got = await p.run(target);
    } catch (err) {
      got = labelOf(err);
    }
    const good = p.expect.includes(got);
    if (good) ok++;
    else failed++;
    const line = { probe: p.name, target, expected: p.expect, got, ok: good };
    ctx.log.warn(line, `adversary probe: ${p.name} -> ${got}`);
    if (ctx.report) appendFileSync(ctx.report, `${JSON.stringify(line)}\n`);
  }
  return { ok, failed };
}

/** The refusal label of an answer: an RPC error's details or an Ack's reason start with it. */
function labelOf(x: unknown): string {
  if (x instanceof RpcError) return /: ([a-z_]+): /.exec(x.message)?.[1] ?? `status_${x.status}`;
  if (typeof x === 'object' && x !== null && 'accepted' in x) {
    const a = x as { accepted: boolean; reason: string };
    return a.accepted ? 'accepted' : (a.reason.split(':')[0] ?? a.reason);
  }
  return `error: ${errorMessage(x)}`.slice(0, 200);
}

function probes(ctx: ProbeContext): Probe[] {
  const member = (t: string) => ctx.net.client(t);
  const stranger = (t: string) => strangerClient(ctx.net, t);
  const sign = (d: Buffer) => signDigest(ctx.key, d);
  const st = () => ctx.round();
  const announcement = (over: Partial<RoundAnnouncementMsg> = {}): RoundAnnouncementMsg => ({
    round: st().round,
    innerSteps: ctx.innerSteps,
    deadlineMs: Date.now() + 60_000,
    baseCheckpointSha256: st().latest,
    leader: ctx.me,
    eligible: [],
    baseManifest: '',
    failedLeaders: [],
    ...over,
  });
  const gradient = (over: Partial<GradientReadyMsg> = {}, signer = sign): GradientReadyMsg => {
    const sha = SHA(`probe gradient ${Math.random()}`);
    const m = {
      round: st().round,
      sha256: sha,
      cid: '',
      localLoss: 1,
      tokens: 1,
      steps: 1,
      size: 1000,
      baseCheckpointSha256: st().latest,
      lossBefore: 2,
      compression: 'none',
      ...over,
    };
    return { ...m, statementSignature: signer(gradientDigest(m.round, m.baseCheckpointSha256, m.sha256, m.size)), ...over };
  };
  /** A proposal of ours for the round (merged from one made-up gradient of ours), signed unless told otherwise. */
  const proposal = (over: Partial<OutcomeProposal> = {}, leaderKey = ctx.key): OutcomeProposal => {
    const s = st();
    const g = SHA(`probe ${Math.random()}`);
    const leader = nodeIdFromPublicKey(leaderKey.compressedPublicKey);
    const unsigned = {
      round: s.round,
      leader,
      parentSha256: s.latest,
      merged: true,
      sha256: SHA(`probe merge ${Math.random()}`),
      manifestId: null,
      contributions: [
        { nodeId: leader, sha256: g, size: 1000, signature: signDigest(leaderKey, gradientDigest(s.round, s.latest, g, 1000)) },
      ],
      leaderCheck: null,
      note: '',
      basis: null,
      damping: 0,
      ...over,
    };
    return { ...unsigned, signature: signDigest(leaderKey, proposalDigest(unsigned)) };
  };
  const wire = (p: OutcomeProposal): OutcomeProposalMsg => ({ ...p, manifestId: p.manifestId ?? '' });
  const voteOf = (p: OutcomeProposal, key: SigningKey) => ({
    voter: nodeIdFromPublicKey(key.compressedPublicKey),
    signature: signDigest(key, voteDigest(proposalDigest(p))),
  });
  const fresh = () => new SigningKey(Wallet.createRandom().privateKey);

  return [
    // ---- a key nobody vouched for
    {
      name: 'stranger announces a round',
      expect: ['not_member'],
      run: async (t) => labelOf(await stranger(t).announceRound(announcement())),
    },
    {
      name: 'stranger pushes a gradient signal',
      expect: ['not_member'],
      run: async (t) => labelOf(await stranger(t).signalGradientReady(gradient())),
    },
    {
      name: 'stranger pushes a gradient blob',
      expect: ['not_member'],
      run: async (t) => {
        const data = randomBytes(4096);
        return labelOf(await stranger(t).putBlob({ data, sha256: createHash('sha256').update(data).digest('hex'), size: data.length }));
      },
    },
    {
      name: 'stranger votes',
      expect: ['not_member'],
      run: async (t) => {
        const p = proposal();
        return labelOf(await stranger(t).submitVote({ proposal: wire(p), votes: [] }));
      },
    },
    {
      name: 'stranger publishes an outcome that rolls back to genesis',
      expect: ['not_member'],
      run: async (t) =>
        labelOf(await stranger(t).publishOutcome({ proposal: wire(proposal({ round: st().round + 1 })), votes: [], receiptsJson: '' })),
    },
    {
      name: 'stranger asks for a spot check',
      expect: ['not_member'],
      run: async (t) =>
        labelOf(
          await stranger(t).checkGradient({
            round: st().round,
            baseSha256: st().latest,
            sha256: SHA('x'),
            size: 10,
            manifestId: '',
            statementSignature: Buffer.alloc(65, 1),
          }),
        ),
    },
    {
      name: 'stranger reads a blob that is not public',
      expect: ['not_public'],
      run: async (t) => labelOf(await stranger(t).statBlob(SHA(`gradient ${t}`))),
    },
    {
      name: 'stranger heartbeats without a Hello',
      expect: ['unknown_peer'],
      run: async (t) => labelOf(await stranger(t).heartbeat({ seq: 1, tier: 'gpu_compute', roles: ['trainer'] })),
    },
    {
      name: 'stranger reads the latest checkpoint (public)',
      expect: ['accepted'],
      run: async (t) => labelOf(await stranger(t).getLatest({ round: 0 })),
    },
    {
      name: 'stranger reads the certified lineage (public)',
      expect: ['accepted'],
      run: async (t) => ((await stranger(t).getLineage({ afterRound: -1, limit: 2 })).outcomes.length > 0 ? 'accepted' : 'empty'),
    },
    // ---- a member out of turn or out of shape
    {
      name: 'member announces out of turn',
      expect: ['not_expected_leader', 'leader_failed'],
      run: async (t) => labelOf(await member(t).announceRound(announcement())),
    },
    {
      name: 'member announces on another base',
      expect: ['base_mismatch'],
      run: async (t) => labelOf(await member(t).announceRound(announcement({ baseCheckpointSha256: SHA('other base') }))),
    },
    {
      name: 'member announces a future round',
      expect: ['wrong_round'],
      run: async (t) => labelOf(await member(t).announceRound(announcement({ round: st().round + 7 }))),
    },
    {
      name: 'member announces a past round',
      expect: ['wrong_round'],
      run: async (t) => labelOf(await member(t).announceRound(announcement({ round: Math.max(0, st().round - 1) }))),
    },
    {
      name: 'member announces for another leader',
      expect: ['not_sender'],
      run: async (t) => labelOf(await member(t).announceRound(announcement({ leader: t }))),
    },
    {
      name: 'member announces a path as the base hash',
      expect: ['bad_field'],
      run: async (t) => labelOf(await member(t).announceRound(announcement({ baseCheckpointSha256: '/../../../../tmp/x' }))),
    },
    {
      name: 'member announces round 2^53-1',
      expect: ['bad_field'],
      run: async (t) => labelOf(await member(t).announceRound(announcement({ round: 2 ** 53 - 1 }))),
    },
    {
      name: 'member announces 1500 eligible nodes',
      expect: ['bad_field'],
      run: async (t) =>
        labelOf(
          await member(t).announceRound(
            announcement({ eligible: Array.from({ length: 1500 }, (_, i) => `node-${i.toString(16).padStart(16, '0')}`) }),
          ),
        ),
    },
    {
      name: 'member sends a gradient to a node that does not lead',
      expect: ['not_leader'],
      run: async (t) => labelOf(await member(t).signalGradientReady(gradient())),
    },
    {
      name: 'gradient to the leader claiming 2^53-1 tokens',
      expect: ['tokens_mismatch', 'not_leader'],
      run: async (t) => labelOf(await member(t).signalGradientReady(gradient({ tokens: 2 ** 53 - 1 }))),
    },
    {
      name: 'gradient to the leader with a statement by another key',
      expect: ['tokens_mismatch', 'bad_statement', 'not_leader'],
      run: async (t) => labelOf(await member(t).signalGradientReady(gradient({}, (d) => signDigest(fresh(), d)))),
    },
    {
      name: 'member signals a gradient named by a path',
      expect: ['bad_field'],
      run: async (t) => labelOf(await member(t).signalGradientReady(gradient({ sha256: '../../etc/passwd' }))),
    },
    {
      name: 'member proposes with a stranger among the contributors',
      expect: ['bad_contribution'],
      run: async (t) => {
        const k = fresh();
        const id = nodeIdFromPublicKey(k.compressedPublicKey);
        const g = SHA('stranger gradient');
        const p = proposal({
          contributions: [{ nodeId: id, sha256: g, size: 10, signature: signDigest(k, gradientDigest(st().round, st().latest, g, 10)) }],
        });
        return labelOf(await member(t).submitVote({ proposal: wire(p), votes: [] }));
      },
    },
    {
      name: 'member proposes an outer step damped to 1/512',
      expect: ['bad_field'],
      run: async (t) => labelOf(await member(t).submitVote({ proposal: wire(proposal({ damping: 9 })), votes: [] })),
    },
    {
      name: 'member sends a proposal changed after signing',
      expect: ['bad_signature'],
      run: async (t) => labelOf(await member(t).submitVote({ proposal: wire({ ...proposal(), sha256: SHA('changed') }), votes: [] })),
    },
    {
      name: 'member sends a proposal signed by a stranger',
      expect: ['not_member'],
      run: async (t) => labelOf(await member(t).submitVote({ proposal: wire(proposal({}, fresh())), votes: [] })),
    },
    {
      name: 'member sends a proposal for a future round',
      expect: ['wrong_round'],
      run: async (t) => labelOf(await member(t).submitVote({ proposal: wire(proposal({ round: st().round + 3 })), votes: [] })),
    },
    {
      name: 'member sends 5000 votes (a message over the control-plane size limit)',
      expect: ['oversize'],
      run: async (t) => {
        const p = proposal();
        const v = voteOf(p, ctx.key);
        return labelOf(await member(t).submitVote({ proposal: wire(p), votes: Array.from({ length: 5000 }, () => v) }));
      },
    },
    {
      name: 'member publishes an outcome voted by throwaway keys',
      expect: ['no_quorum'],
      run: async (t) => {
        const p = proposal({ merged: false, sha256: st().latest, contributions: [] });
        return labelOf(
          await member(t).publishOutcome({
            proposal: wire(p),
            votes: [voteOf(p, ctx.key), voteOf(p, fresh()), voteOf(p, fresh()), voteOf(p, fresh())],
            receiptsJson: '',
          }),
        );
      },
    },
    {
      name: 'member publishes a rollback to an old checkpoint',
      expect: ['no_quorum', 'unchecked_leader_gradient'],
      run: async (t) => {
        const p = proposal({ merged: true, sha256: SHA('genesis-like') });
        return labelOf(await member(t).publishOutcome({ proposal: wire(p), votes: [voteOf(p, ctx.key)], receiptsJson: '' }));
      },
    },
    {
      name: 'member publishes an outcome of a future round',
      expect: ['wrong_round'],
      run: async (t) =>
        labelOf(await member(t).publishOutcome({ proposal: wire(proposal({ round: st().round + 9 })), votes: [], receiptsJson: '' })),
    },
    {
      name: 'member replays an earlier certified outcome',
      expect: ['stale_round'],
      run: async (t) => {
        const old = (await member(t).getLineage({ afterRound: -1, limit: 1 })).outcomes[0];
        if (!old) return 'no certified outcome yet';
        return labelOf(await member(t).publishOutcome(old));
      },
    },
    {
      name: 'member publishes round 2^53-1',
      expect: ['bad_field'],
      run: async (t) =>
        labelOf(await member(t).publishOutcome({ proposal: wire(proposal({ round: 2 ** 53 - 1 })), votes: [], receiptsJson: '' })),
    },
    {
      name: 'member that does not lead asks for a spot check',
      expect: ['not_expected_leader', 'bad_statement'],
      run: async (t) => {
        const sha = SHA('not mine');
        const r = await member(t).checkGradient({
          round: st().round,
          baseSha256: st().latest,
          sha256: sha,
          size: 10,
          manifestId: '',
          statementSignature: sign(gradientDigest(st().round, st().latest, sha, 10)),
        });
        return r.accepted ? 'accepted' : (r.reason.split(':')[0] ?? r.reason);
      },
    },
    {
      name: 'member asks for a lineage before round -1',
      expect: ['bad_field'],
      run: async (t) => labelOf(await member(t).getLineage({ afterRound: -5, limit: 1 })),
    },
    {
      name: 'member pushes a blob of 1 TiB',
      expect: ['blob_too_large'],
      run: async (t) => labelOf(await member(t).putBlob({ data: Buffer.alloc(16), sha256: SHA('huge'), size: 2 ** 40 })),
    },
  ];
}

/** A client to `target` signing with a throwaway key nobody vouched for. */
function strangerClient(net: NetPart, target: string): PeerClient {
  return strangerClientWith(net, target, new SigningKey(Wallet.createRandom().privateKey));
}

/**
 * 300 throwaway identities say Hello to `target`: the peer table keeps at most a few per IP range and a bounded
 * pool of strangers, so most are refused (ip_range_full, peer_table_full). Returns the counts by answer.
 */
export async function helloFlood(net: NetPart, target: string, count = 300): Promise<Record<string, number>> {
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

function strangerClientWith(net: NetPart, target: string, key: SigningKey): PeerClient {
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
