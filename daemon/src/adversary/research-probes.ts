import { nodeIdFromPublicKey } from '../identity/node-id.js';
import { signDigest } from '../identity/signature.js';
import { signRecord, TRIAL_CREDIT_BASE } from '../research/records.js';
import { labelOf } from './labels.js';
import { type Probe, type ProbeKit, SHA } from './probe-kit.js';

/**
 * Research messages a stranger may not send at all, and a member may not send out of shape: a trial that reads a
 * file of the target's disk, that runs for a million steps or trains a model its memory cannot hold, a job or a
 * result signed for someone else, a result nobody asked for, receipts for trials the target never ran.
 */
export function researchProbes({ ctx, member, stranger, sign, fresh }: ProbeKit): Probe[] {
  const job = (over: Record<string, unknown> = {}) => ({
    v: 1,
    runId: 'rprobe',
    trialId: 'p1-c0-s0',
    researcher: ctx.me,
    config: { preset: 'tiny', context: 32, batch: 2 },
    seed: 0,
    steps: 10,
    data: 'generated',
    evalWindows: 4,
    testWindows: 4,
    issuedAt: Date.now(),
    ...over,
  });
  const result = (over: Record<string, unknown> = {}) => ({
    v: 1,
    runId: 'rprobe',
    trialId: 'p1-c0-s0',
    worker: ctx.me,
    job: SHA('a job never sent'),
    checkpointSha256: SHA('checkpoint'),
    manifestId: '',
    evalLoss: 0.001,
    testLoss: 0.001,
    curve: [[10, 0.001]],
    tokens: 640,
    seconds: 1,
    params: 1,
    ...over,
  });
  const credits = (target: string) => ({
    v: 1,
    researcher: ctx.me,
    receipts: [
      {
        nodeId: target,
        node: '0x' + '22'.repeat(20),
        epoch: 1,
        round: TRIAL_CREDIT_BASE + 424_242,
        checkpointHash: '0x' + '00'.repeat(32),
        gradientHash: '0x' + SHA('a checkpoint never made'),
        tokens: 640,
        score: 1_000_000,
        leader: '0x' + '33'.repeat(20),
        leaderSignature: '0x' + '11'.repeat(65),
      },
    ],
  });
  const offer = (t: string, body: object, signer = sign) => member(t).offerTrial(signRecord('trial-job', body, signer));
  return [
    {
      name: 'stranger offers a research trial',
      expect: ['not_member'],
      run: async (t) => labelOf(await stranger(t).offerTrial(signRecord('trial-job', job(), sign))),
    },
    {
      name: 'stranger reports a research result',
      expect: ['not_member'],
      run: async (t) => labelOf(await stranger(t).reportTrial(signRecord('trial-result', result(), sign))),
    },
    {
      name: 'member offers a trial that trains on /etc/passwd',
      expect: ['data_not_allowed'],
      run: async (t) => labelOf(await offer(t, job({ data: '/etc/passwd' }))),
    },
    {
      name: 'member offers a trial of a million steps',
      expect: ['too_many_steps'],
      run: async (t) => labelOf(await offer(t, job({ steps: 1_000_000 }))),
    },
    {
      name: 'member offers a trial of a 13-billion-parameter model',
      expect: ['too_large'],
      run: async (t) => labelOf(await offer(t, job({ config: { dim: 4096, n_layers: 64, n_heads: 32, n_kv_heads: 8 } }))),
    },
    {
      name: 'member offers a trial of 2.7 billion tokens (batch 1024 x accumulation 64 x context 4096)',
      expect: ['too_many_tokens'],
      run: async (t) => labelOf(await offer(t, job({ config: { context: 4096, batch: 1024, grad_accum: 64 } }))),
    },
    {
      name: 'member offers a trial scored on 4000 held-out windows',
      expect: ['too_many_windows'],
      run: async (t) => labelOf(await offer(t, job({ evalWindows: 2000, testWindows: 2000 }))),
    },
    {
      name: 'member offers a trial with an unknown hyperparameter',
      expect: ['bad_config'],
      run: async (t) => labelOf(await offer(t, job({ config: { lrr: 1 } }))),
    },
    {
      name: 'member offers a trial signed by another key',
      expect: ['wrong_author'],
      run: async (t) => labelOf(await offer(t, job(), (d) => signDigest(fresh(), d))),
    },
    {
      name: 'member offers a trial in the name of another researcher',
      expect: ['wrong_author'],
      run: async (t) => {
        const k = fresh();
        return labelOf(await offer(t, job({ researcher: nodeIdFromPublicKey(k.compressedPublicKey) }), (d) => signDigest(k, d)));
      },
    },
    {
      name: 'member reports a research result nobody asked for',
      expect: ['unknown_run', 'not_assigned'],
      run: async (t) => labelOf(await member(t).reportTrial(signRecord('trial-result', result(), sign))),
    },
    {
      name: 'member says a trial it was never given failed',
      expect: ['unknown_run', 'not_assigned'],
      run: async (t) =>
        labelOf(
          await member(t).reportTrial(
            signRecord(
              'trial-failed',
              { v: 1, runId: 'rprobe', trialId: 'p1-c0-s0', worker: ctx.me, job: SHA('no job'), error: 'x' },
              sign,
            ),
          ),
        ),
    },
    {
      name: 'member offers a trial whose receipt would name a DiLoCo round',
      expect: ['bad_field'],
      run: async (t) => labelOf(await offer(t, job({ creditRound: 7 }))),
    },
    {
      name: 'stranger sends receipts for research trials',
      expect: ['not_member'],
      run: async (t) => labelOf(await stranger(t).creditTrials(signRecord('trial-credits', credits(t), sign))),
    },
    {
      name: 'member sends receipts for a trial the target never ran for it (claims it would be slashed for)',
      expect: ['not_served'],
      run: async (t) => labelOf(await member(t).creditTrials(signRecord('trial-credits', credits(t), sign))),
    },
  ];
}
