import { randomBytes } from 'node:crypto';
import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import { gradientDigest } from '../diloco/statements.js';
import { sha256Hex } from '../storage/cid.js';
import { labelOf } from './labels.js';
import { type Probe, type ProbeKit, SHA } from './probe-kit.js';

/** What a key nobody vouched for may not do (and the public reads it may). */
export function strangerProbes({ stranger, announcement, gradient, proposal, wire, st }: ProbeKit): Probe[] {
  return [
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
        return labelOf(await stranger(t).putBlob({ data, sha256: sha256Hex(data), size: data.length }));
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
        labelOf(await stranger(t).publishOutcome({ proposal: wire(proposal({ round: st().round + 1 })), votes: [], receipts: [] })),
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
  ];
}

/** What a member may not do out of turn or out of shape. */
export function memberProbes({ ctx, member, sign, st, announcement, gradient, proposal, wire, voteOf, fresh }: ProbeKit): Probe[] {
  return [
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
            receipts: [],
          }),
        );
      },
    },
    {
      name: 'member publishes a rollback to an old checkpoint',
      expect: ['no_quorum', 'unchecked_leader_gradient'],
      run: async (t) => {
        const p = proposal({ merged: true, sha256: SHA('genesis-like') });
        return labelOf(await member(t).publishOutcome({ proposal: wire(p), votes: [voteOf(p, ctx.key)], receipts: [] }));
      },
    },
    {
      name: 'member publishes an outcome of a future round',
      expect: ['wrong_round'],
      run: async (t) =>
        labelOf(await member(t).publishOutcome({ proposal: wire(proposal({ round: st().round + 9 })), votes: [], receipts: [] })),
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
      name: 'member publishes an outcome carrying a malformed contribution receipt',
      expect: ['bad_field'],
      run: async (t) => {
        const receipt = {
          nodeId: ctx.me,
          node: '0x' + '11'.repeat(20),
          epoch: 1,
          round: st().round,
          checkpointHash: Buffer.alloc(32),
          gradientHash: Buffer.alloc(31), // one byte short
          tokens: 1,
          score: 1,
          leader: '0x' + '22'.repeat(20),
          leaderSignature: Buffer.alloc(65),
        };
        const p = proposal({ merged: false, sha256: st().latest, contributions: [] });
        return labelOf(await member(t).publishOutcome({ proposal: wire(p), votes: [voteOf(p, ctx.key)], receipts: [receipt] }));
      },
    },
    {
      name: 'member publishes round 2^53-1',
      expect: ['bad_field'],
      run: async (t) =>
        labelOf(await member(t).publishOutcome({ proposal: wire(proposal({ round: 2 ** 53 - 1 })), votes: [], receipts: [] })),
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
