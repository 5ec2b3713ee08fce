import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { parseSpec } from '../../daemon/src/network/spec.js';
import { canonicalJson } from '../../daemon/src/research/hparams.js';
import { openRecord } from '../../daemon/src/research/records.js';
import {
  ADVERSARY,
  CLI,
  type RunningDaemon,
  membersArgs,
  prepareHomes,
  startDaemon,
  tempHome,
  testEnv,
  waitFor,
} from '../helpers/daemon.js';

const run = promisify(execFile);

/**
 * Autoresearch on a 3-node testnet: a research node leads a phased plan, the trials run on every trainer (itself
 * included) as signed jobs, and a member that lies about its results (a real adversary process with its own key:
 * it trains, then reports 30% lower losses, validly signed) is caught by the re-score of the phase winner, refused
 * for the run, and its trials rerun by honest nodes. The run ends with signed findings, a report with a plot, and a
 * network spec made from the winner.
 */
const plan = {
  magnetResearch: 1,
  name: 'e2e',
  base: { preset: 'tiny', n_layers: 2, context: 32, batch: 2, lr: 0.002 },
  data: 'generated',
  evaluation: { evalWindows: 4, testWindows: 4 },
  budget: { steps: 10, maxTrials: 40, maxHours: 1 },
  phases: [
    { name: 'learning rate', rule: { param: 'lr', times: [0.5, 2, 4] } },
    { name: 'context', vary: [{ context: 16 }, { context: 64 }] },
    { name: 'final', final: { top: 2, stepsFactor: 2 } },
  ],
  seeds: [0],
  convergence: { patience: 3, epsilon: 0.002 },
  verify: { sampleRate: 0.5, tolerance: 0.02 },
  trialTimeoutSec: 120,
};

interface Status {
  run: {
    runId: string;
    state: string;
    stopReason: string | null;
    phase: string;
    refusedWorkers: { nodeId: string; reason: string }[];
  } | null;
  trialsRunForOthers: Record<string, number>;
}
interface Report {
  runId: string;
  phases: {
    name: string;
    configs: number;
    best_eval_loss: number | null;
    trials: { trial: string; worker: string; state: string; verified: boolean; note: string | null; seconds: number | null }[];
  }[];
  result: { testImprovement: number | null; base: { testLoss: number } | null; winner: { testLoss: number } | null } | null;
}

const running: RunningDaemon[] = [];
after(async () => {
  for (const d of running) await d.kill();
});

test(
  'a research plan runs across 3 nodes to its end; a member that reports forged losses is refused and its trials rerun',
  { timeout: 900_000 },
  async () => {
    const homes = await prepareHomes(3, 'magnet-research-');
    const dir = tempHome('magnet-research-files-');
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({ net: { heartbeatSeconds: 1, staleSeconds: 10 }, research: { tickSeconds: 1, trialThreads: 1 } }),
    );
    const env = testEnv({ MAGNET_CPU_TRAINING: 'true' });
    const argsOf = (boot?: string) => ['--config', config, ...membersArgs(homes), ...(boot ? ['--bootstrap', boot] : [])];
    const [ha, hb, hliar] = homes as [(typeof homes)[0], (typeof homes)[0], (typeof homes)[0]];

    const a = await startDaemon({ home: ha.home, env, args: argsOf() });
    running.push(a);
    const boot = (await a.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0] as string;
    const b = await startDaemon({ home: hb.home, env, args: argsOf(boot) });
    running.push(b);
    const liar = await startDaemon({ home: hliar.home, env, args: argsOf(boot), entry: [ADVERSARY, '--kind', 'research-liar'] });
    running.push(liar);
    const live = async () =>
      (await a.get<{ net: { peers: { nodeId: string; state: string }[] } }>('/status')).net.peers.filter((p) => p.state === 'live').length;
    await waitFor(async () => (await live()) >= 2, 60_000, 'A to see both peers');

    // A plan with an unknown hyperparameter is refused by name before any daemon is asked.
    const badPlan = join(dir, 'bad.json');
    writeFileSync(badPlan, JSON.stringify({ ...plan, base: { ...plan.base, lrr: 1 } }));
    const bad = await run(process.execPath, [CLI, 'research', 'start', '--home', ha.home, '--plan', badPlan]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((bad as { code: number }).code, 1);
    assert.match((bad as { stderr: string }).stderr, /base: unknown hyperparameter "lrr"/);

    const planFile = join(dir, 'plan.json');
    writeFileSync(planFile, JSON.stringify(plan));
    const started = await run(process.execPath, [CLI, 'research', 'start', '--home', ha.home, '--plan', planFile, '--json']);
    const runId = (JSON.parse(started.stdout) as { runId: string }).runId;

    const done = await waitFor(
      async () => {
        const s = await a.get<Status>('/research/status');
        return s.run?.state === 'done' ? s : undefined;
      },
      720_000,
      'the research run to finish',
    );
    assert.equal(done.run?.runId, runId);
    assert.equal(done.run?.stopReason, 'plan complete');

    // The liar was caught by a re-score and refused for the run; none of its results counts.
    const refused = done.run?.refusedWorkers ?? [];
    assert.deepEqual(
      refused.map((w) => w.nodeId),
      [hliar.nodeId],
    );
    assert.match(refused[0]?.reason ?? '', /reported, .* re-scored .*off/);
    const report = await a.get<Report>(`/research/report?run=${runId}`);
    const all = report.phases.flatMap((p) => p.trials);
    assert.ok(all.length >= 8, `${all.length} trials`);
    // Every trial counted, but those of the liar in phases already closed when it was caught: dropped, not rerun.
    assert.ok(
      all.every((t) => t.state === 'done' || (t.state === 'failed' && t.note === `dropped: ${hliar.nodeId} refused`)),
      JSON.stringify(all),
    );
    assert.ok(!all.some((t) => t.worker === hliar.nodeId), 'a result of the refused worker counts');
    // The network ran the trials: the honest trainer besides the research node itself.
    assert.ok(all.some((t) => t.worker === hb.nodeId) && all.some((t) => t.worker === ha.nodeId), JSON.stringify(all.map((t) => t.worker)));
    assert.ok(((await b.get<Status>('/research/status')).trialsRunForOthers['reported'] ?? 0) >= 1);
    assert.deepEqual(
      report.phases.map((p) => p.name),
      ['base', 'learning rate', 'context', 'final'],
    );
    assert.equal(report.phases[1]?.configs, 3);
    for (const p of report.phases) assert.ok(Number.isFinite(p.best_eval_loss), `${p.name} has a best loss`);
    assert.ok(report.result && Number.isFinite(report.result.base?.testLoss) && Number.isFinite(report.result.winner?.testLoss));

    // Every finding is a record signed by the research node.
    const insights = await a.get<{ findings: { kind: string; body: unknown; signature: string; manifestId: string | null }[] }>(
      `/research/insights?run=${runId}`,
    );
    assert.deepEqual(
      insights.findings.filter((f) => f.kind === 'phase').map((f) => (f.body as { phase: string }).phase),
      ['base', 'learning rate', 'context', 'final'],
    );
    assert.ok(insights.findings.some((f) => f.kind === 'result'));
    for (const f of insights.findings) {
      // The stored body is canonical JSON: serializing it again with sorted keys gives the signed bytes.
      const rec = { kind: 'finding', body: Buffer.from(canonicalJson(f.body)), signature: Buffer.from(f.signature, 'hex') };
      assert.equal(openRecord(rec, 'finding', 'researcher')['researcher'], ha.nodeId);
    }
    // Another node reads a finding from the network's storage and checks it; a tampered copy is refused by name.
    const stored = insights.findings.find((f) => f.kind === 'phase' && f.manifestId) as (typeof insights.findings)[0];
    const imported = await run(process.execPath, [
      CLI,
      'research',
      'insights',
      '--home',
      hb.home,
      '--import',
      stored.manifestId as string,
      '--json',
    ]);
    assert.deepEqual(JSON.parse(imported.stdout), { runId, kind: 'phase', researcher: ha.nodeId, added: true });
    const forged = join(dir, 'forged.json');
    const tampered = canonicalJson({ ...(stored.body as object), bestEvalLoss: 0.001 });
    writeFileSync(forged, JSON.stringify({ kind: 'finding', body: tampered, signature: stored.signature }));
    const forgedId = (await run(process.execPath, [CLI, 'blob', 'put', forged, '--home', hb.home, '--no-progress'])).stdout.trim();
    const refusedImport = await run(process.execPath, [CLI, 'research', 'insights', '--home', hb.home, '--import', forgedId]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((refusedImport as { code: number }).code, 1);
    assert.match((refusedImport as { stderr: string }).stderr, /wrong_author|bad_signature/);
    const text = await run(process.execPath, [CLI, 'research', 'insights', '--home', ha.home]);
    assert.match(text.stdout, /"learning rate": 3 configs at 10 steps; winner/);

    // The report: the phase table and the plot; the winner as a network spec that starts a DiLoCo run.
    const out = join(dir, 'report');
    await run(process.execPath, [CLI, 'research', 'report', '--home', ha.home, '--out', out]);
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /\| 1 \| learning rate \| 3 \| 10 \|/);
    assert.deepEqual([...readFileSync(join(out, 'plot.png')).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const specFile = join(dir, 'spec.json');
    const spec = await run(process.execPath, [CLI, 'research', 'spec', '--home', ha.home, '--out', specFile, '--genesis', '--json']);
    const parsed = parseSpec(readFileSync(specFile, 'utf8'), specFile);
    const best = (report as unknown as { best: { config: { lr: number; context: number } } }).best.config;
    assert.equal(parsed.round['innerLr'], best.lr);
    assert.equal(parsed.round['seq'], best.context);
    assert.deepEqual([parsed.model.preset, parsed.model.shape], ['tiny', 'n_layers=2']);
    assert.match(parsed.model.genesisSha256, /^[0-9a-f]{64}$/);
    assert.equal((JSON.parse(spec.stdout) as { notCarried: { schedule: string } }).notCarried.schedule, 'wsd');

    // The winner starts a DiLoCo run: a node of that network makes the pinned round-0 model (the winner's shape)
    // and merges its first round.
    const roundCfg = join(dir, 'round.json');
    writeFileSync(roundCfg, JSON.stringify({ diloco: { startDelaySec: 1, threads: 1 } }));
    const env2 = testEnv({ MAGNET_CPU_TRAINING: 'true', MAGNET_DILOCO: 'true' });
    const trainer = await startDaemon({ env: env2, args: ['--network', specFile, '--config', roundCfg] });
    running.push(trainer);
    const first = await waitFor(
      async () => {
        const s = await trainer.get<{ network: { id: string }; diloco: { latest: { round: number } | null } }>('/status');
        return (s.diloco.latest?.round ?? -1) >= 0 ? s : undefined;
      },
      300_000,
      'the first round of the network the winner defines',
    );
    assert.equal(first.network.id, (JSON.parse(spec.stdout) as { id: string }).id);
  },
);

test(
  'research faults: a trainer killed mid-trial (reassigned), a designer that answers nonsense then is down (refused, the plan goes on), the research node killed and restarted (resumes without rerunning finished trials)',
  { timeout: 900_000 },
  async () => {
    // The designer: one nonsense answer, then nothing listens on its port.
    let asked = 0;
    const designer = createServer((_req, res) => {
      asked++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'I would try something bold, like a bigger model!' } }] }),
      );
    });
    await new Promise<void>((r) => designer.listen(0, '127.0.0.1', r));
    const port = (designer.address() as AddressInfo).port;

    const homes = await prepareHomes(2, 'magnet-research-faults-');
    const [ha, hb] = homes as [(typeof homes)[0], (typeof homes)[0]];
    const dir = tempHome('magnet-research-faults-files-');
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ net: { heartbeatSeconds: 1, staleSeconds: 6 }, research: { tickSeconds: 1, trialThreads: 1 } }));
    const env = testEnv({ MAGNET_CPU_TRAINING: 'true' });
    const argsOf = (boot?: string) => ['--config', config, ...membersArgs(homes), ...(boot ? ['--bootstrap', boot] : [])];
    let a = await startDaemon({ home: ha.home, env, args: argsOf() });
    running.push(a);
    const boot = (await a.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0] as string;
    const b = await startDaemon({ home: hb.home, env, args: argsOf(boot) });
    running.push(b);

    const faultPlan = {
      ...plan,
      name: 'faults',
      budget: { steps: 30, maxTrials: 40, maxHours: 1 },
      phases: [
        { name: 'learning rate', rule: { param: 'lr', times: [0.5, 2] } },
        { name: 'context', vary: [{ context: 16 }, { context: 64 }] },
        { name: 'beta2', vary: [{ beta2: 0.98 }] },
      ],
      designer: { url: `http://127.0.0.1:${port}`, model: 'magnet', timeoutSec: 5, maxProposals: 2 },
      trialTimeoutSec: 300,
    };
    const planFile = join(dir, 'plan.json');
    writeFileSync(planFile, JSON.stringify(faultPlan));
    await waitFor(async () => (await a.fetch('/research/status')).ok, 10_000, 'A to answer');
    await run(process.execPath, [CLI, 'research', 'start', '--home', ha.home, '--plan', planFile]);

    // B runs a trial of the search: killed there. A gives the trial to another worker once B is gone.
    await waitFor(
      async () => ((await b.get<Status>('/research/status')).trialsRunForOthers['running'] ?? 0) >= 1,
      300_000,
      'B to run a trial',
    );
    await b.kill();

    // The designer's nonsense was refused after the learning-rate phase; then it goes down. A is killed after that
    // phase closed, while the context phase runs, and restarted on its home.
    await waitFor(async () => asked >= 1, 300_000, 'the designer to be asked');
    await new Promise<void>((r) => designer.close(() => r()));
    const before = await waitFor(
      async () => {
        const r = await a.get<Report>('/research/report');
        return r.phases[2]?.trials.some((t) => t.state === 'done') ? r : undefined;
      },
      300_000,
      'a trial of the context phase to finish',
    );
    const doneBefore = new Map(
      before.phases.flatMap((p) => p.trials.filter((t) => t.state === 'done').map((t) => [t.trial, t.seconds] as const)),
    );
    await a.kill();
    a = await startDaemon({ home: ha.home, env, args: argsOf() });
    running.push(a);

    const done = await waitFor(
      async () => {
        const s = await a.get<Status>('/research/status');
        return s.run?.state === 'done' ? s : undefined;
      },
      600_000,
      'the research run to finish after the restart',
    );
    assert.equal(done.run?.stopReason, 'plan complete');
    const report = await a.get<Report>('/research/report');
    assert.deepEqual(
      report.phases.map((p) => p.name),
      ['base', 'learning rate', 'context', 'beta2'],
    );
    const trials = report.phases.flatMap((p) => p.trials);
    assert.ok(
      trials.every((t) => t.state === 'done'),
      JSON.stringify(trials),
    );
    // The trial B died on went to A, with the reason. B may die after it took the offer but before its yes reached A:
    // then A's offer call fails and the trial goes back to the queue at once, saying so.
    const diedOn = /^(reassigned: (node-[0-9a-f]{16} went away|no result from)|offer to node-[0-9a-f]{16} failed)/;
    assert.ok(
      trials.some((t) => diedOn.test(t.note ?? '') && t.worker === ha.nodeId),
      JSON.stringify(trials.map((t) => t.note)),
    );
    // Finished trials were not rerun after the restart (a rerun would have its own timing).
    for (const [trial, seconds] of doneBefore)
      assert.equal(trials.find((t) => t.trial === trial)?.seconds, seconds, `trial ${trial} ran again`);
    // Both designer calls were refused with the reason, and the plan's own phases went on.
    const proposals = (
      await a.get<{ findings: { kind: string; body: { accepted: boolean; reason: string } }[] }>('/research/insights')
    ).findings.filter((f) => f.kind === 'proposal');
    assert.equal(proposals.length, 2, JSON.stringify(proposals));
    assert.ok(proposals.every((p) => !p.body.accepted));
    assert.match(proposals[0]?.body.reason ?? '', /designer answer/);
    assert.match(proposals[1]?.body.reason ?? '', /unreachable|ECONNREFUSED|fetch failed/);
  },
);
