import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { networkIdOf } from '../../network/spec.js';
import { builtinPlan } from '../../research/builtin-plan.js';
import type { ResolvedConfig } from '../../research/hparams.js';
import { parsePlan } from '../../research/plan.js';
import { specEditsOf } from '../../research/spec-edits.js';
import { ConfigError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { callDaemon } from '../daemon-client.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';
import { initSpec } from './network.js';

interface Flags {
  home?: string;
  json?: boolean;
  run?: string;
}

interface Report {
  runId: string;
  name: string;
  state: string;
  stopReason: string | null;
  data: string;
  budgetSteps: number;
  base_eval_loss: number | null;
  best: { config: ResolvedConfig; change: Record<string, unknown>; evalLoss: number | null };
  result: {
    testImprovement?: number | null;
    base?: { testLoss: number | null } | null;
    winner?: { testLoss: number | null } | null;
  } | null;
  phases: { name: string; steps: number | null; configs: number; best_eval_loss: number | null; winner: Record<string, unknown> | null }[];
  plotPng?: string;
}

const q = (run?: string, extra = '') => `${run ? `?run=${encodeURIComponent(run)}` : ''}${extra ? `${run ? '&' : '?'}${extra}` : ''}`;
const fmt = (x: number | null | undefined, d = 4) => (x === null || x === undefined ? '-' : x.toFixed(d));
const short = (o: Record<string, unknown> | null) =>
  o === null
    ? '-'
    : Object.entries(o)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ') || '(the base)';

/** `magnet-node research start|status|stop|insights|report|spec`: autoresearch on a running node. */
export function registerResearchCommands(program: Command): void {
  const research = program
    .command('research')
    .description(
      'autoresearch: run a phased hyperparameter search whose trials the network runs and checks, and turn its winner into a network spec',
    );
  const home = (c: Command) => c.option('--home <dir>', 'data directory of the daemon (default ~/.magnet, env MAGNET_HOME)');

  home(research.command('start'))
    .description('start a research plan on this node (it leads; trainer nodes of the network run the trials)')
    .option('--plan <file>', 'research plan (JSON): base config, phases, budget, evaluation, convergence, designer')
    .option('--builtin <name>', "a built-in plan instead: genkidama-tiny (the paper's 10 phases at CPU scale) or micro")
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { plan?: string; builtin?: string }) => {
      try {
        if (!flags.plan === !flags.builtin) throw new ConfigError('research start needs exactly one of --plan FILE and --builtin NAME');
        let body: { plan?: string; builtin?: string; where?: string };
        if (flags.plan) {
          if (!existsSync(flags.plan)) throw new ConfigError(`plan ${flags.plan} does not exist`, { file: flags.plan });
          const text = readFileSync(flags.plan, 'utf8');
          parsePlan(text, flags.plan); // the same check the daemon makes, before any daemon is needed
          body = { plan: text, where: flags.plan };
        } else {
          builtinPlan(flags.builtin as string);
          body = { builtin: flags.builtin as string };
        }
        const r = await callDaemon<{ runId: string; name: string; planHash: string }>(resolveHome(flags.home), '/research/start', { body });
        if (flags.json) return printJson(r);
        process.stdout.write(
          `research run ${r.runId} started: plan ${r.name} (${r.planHash.slice(0, 12)})\nfollow it with: magnet-node research status\n`,
        );
      } catch (err) {
        fail(err);
      }
    });

  home(research.command('status'))
    .description('the research run of this node (phase, trials, refused workers) and the trials it ran for others')
    .option('--json', 'print JSON')
    .action(async (flags: Flags) => {
      try {
        const s = await callDaemon<{
          run: Record<string, unknown> | null;
          trialsRunForOthers: Record<string, number>;
          credits?: Record<string, number>;
        }>(resolveHome(flags.home), '/research/status');
        if (flags.json) return printJson(s);
        const r = s.run as {
          runId: string;
          plan: string;
          state: string;
          stopReason: string | null;
          phase: string;
          phaseIndex: number;
          phases: number;
          bestEvalLoss: number | null;
          trials: Record<string, number>;
          refusedWorkers: { nodeId: string; reason: string }[];
        } | null;
        const lines = r
          ? [
              `run        ${r.runId} (${r.plan}) ${r.state}${r.stopReason ? `: ${r.stopReason}` : ''}`,
              `phase      ${r.phaseIndex + 1}/${r.phases} ${r.phase}`,
              `best eval  ${fmt(r.bestEvalLoss)}`,
              `trials     ${Object.entries(r.trials)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')}`,
              ...r.refusedWorkers.map((w) => `refused    ${w.nodeId}: ${w.reason}`),
            ]
          : ['no research run on this node'];
        lines.push(
          `ran for others  ${
            Object.entries(s.trialsRunForOthers)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none'
          }`,
          `credits    ${
            Object.entries(s.credits ?? {})
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none'
          } (receipts for trials other nodes ran for this node's runs)`,
        );
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (err) {
        fail(err);
      }
    });

  home(research.command('stop'))
    .description('stop the running research run (results kept; trials in flight are not waited for)')
    .action(async (flags: Flags) => {
      try {
        const r = await callDaemon<{ stopped: string | null }>(resolveHome(flags.home), '/research/stop', { method: 'POST', body: {} });
        process.stdout.write(r.stopped ? `research run ${r.stopped} stopped\n` : 'no research run was running\n');
      } catch (err) {
        fail(err);
      }
    });

  home(research.command('insights'))
    .description('the knowledge base: the signed findings of each phase (what was tried, what won, by how much, what failed)')
    .option('--run <id>', 'one run only')
    .option('--import <manifestId>', "fetch another research node's finding from the network's storage, check its signature and keep it")
    .option('--json', 'print the signed records as JSON')
    .action(async (flags: Flags & { import?: string }) => {
      try {
        if (flags.import) {
          const r = await callDaemon<{ runId: string; kind: string; researcher: string; added: boolean }>(
            resolveHome(flags.home),
            '/research/insights/import',
            {
              body: { manifestId: flags.import },
              timeoutMs: 120_000,
            },
          );
          if (flags.json) return printJson(r);
          process.stdout.write(`${r.added ? 'imported' : 'already kept'}: ${r.kind} of run ${r.runId}, signed by ${r.researcher}\n`);
          return;
        }
        const r = await callDaemon<{
          findings: { runId: string; seq: number; kind: string; body: Record<string, unknown>; manifestId: string | null }[];
        }>(resolveHome(flags.home), `/research/insights${q(flags.run)}`);
        if (flags.json) return printJson(r);
        for (const f of r.findings) process.stdout.write(`${describeFinding(f.runId, f.seq, f.body)}\n`);
        if (r.findings.length === 0) process.stdout.write('no findings yet\n');
      } catch (err) {
        fail(err);
      }
    });

  home(research.command('report'))
    .description('write the phase table (report.md, report.json) and the best validation loss per phase (plot.png) to --out')
    .requiredOption('--out <dir>', 'directory to write report.md, report.json and plot.png')
    .option('--run <id>', 'a run other than the newest')
    .option('--json', 'print the report JSON')
    .action(async (flags: Flags & { out: string }) => {
      try {
        const r = await callDaemon<Report>(resolveHome(flags.home), `/research/report${q(flags.run, 'plot=1')}`, { timeoutMs: 120_000 });
        mkdirSync(flags.out, { recursive: true });
        const { plotPng, ...report } = r;
        writeFileAtomic(join(flags.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
        writeFileAtomic(join(flags.out, 'report.md'), markdown(report));
        if (plotPng) writeFileAtomic(join(flags.out, 'plot.png'), Buffer.from(plotPng, 'base64'));
        if (flags.json) return printJson(report);
        process.stdout.write(markdown(report));
        process.stdout.write(`\nwritten: ${join(flags.out, 'report.md')}, report.json${plotPng ? ', plot.png' : ''}\n`);
      } catch (err) {
        fail(err);
      }
    });

  home(research.command('spec'))
    .description('write the winning config of a research run as a network spec that starts a DiLoCo run (magnet-node start --network FILE)')
    .requiredOption('--out <file>', 'where to write the spec')
    .option('--run <id>', 'a run other than the newest')
    .option('--name <name>', 'network name (default: research-<run id>)')
    .option('--genesis', 'run the trainer once to pin the round-0 checkpoint hash')
    .option('--python <path>', 'Python interpreter for --genesis (default: the repository .venv)')
    .option('--force', 'overwrite --out if it exists')
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { out: string; name?: string; genesis?: boolean; python?: string; force?: boolean }) => {
      try {
        if (existsSync(flags.out) && !flags.force)
          throw new ConfigError(`${flags.out} exists (--force overwrites it)`, { file: flags.out });
        const r = await callDaemon<Report>(resolveHome(flags.home), `/research/report${q(flags.run)}`);
        const { edits, notCarried } = specEditsOf(r.best.config, { data: r.data, budget: { steps: r.budgetSteps } });
        const spec = await initSpec({
          out: flags.out,
          name: flags.name ?? `research-${r.runId}`,
          set: edits.map(([k, v]) => `${k}=${JSON.stringify(v)}`),
          ...(flags.genesis ? { genesis: true } : {}),
          ...(flags.python ? { python: flags.python } : {}),
        });
        writeFileAtomic(flags.out, `${JSON.stringify(spec, null, 2)}\n`);
        const id = networkIdOf(spec);
        if (flags.json) return printJson({ id, file: flags.out, spec, notCarried });
        process.stdout.write(
          `network ${id} (winner of ${r.runId}: ${short(r.best.change)})\nwritten to ${flags.out}; start it with: magnet-node start --network ${flags.out}\n` +
            `not carried (a DiLoCo round sets these its own way): ${short(notCarried)}\n`,
        );
      } catch (err) {
        fail(err);
      }
    });
}

function describeFinding(runId: string, seq: number, b: Record<string, unknown>): string {
  const head = `${runId} #${seq} ${String(b['kind'])}`;
  if (b['kind'] === 'phase') {
    const tried = (b['tried'] as { config: Record<string, unknown>; evalLoss: number; verified: boolean }[]) ?? [];
    const imp = b['improvement'] as number | null;
    return [
      `${head} "${String(b['phase'])}": ${tried.length} configs at ${String(b['steps'])} steps; winner ${short(b['winner'] as Record<string, unknown> | null)} eval ${fmt(b['phaseBestEvalLoss'] as number | null)}` +
        `${imp === null ? '' : ` (${imp >= 0 ? '-' : '+'}${Math.abs(imp * 100).toFixed(2)}% vs the best before)`}; best so far ${fmt(b['bestEvalLoss'] as number | null)}`,
      ...tried.map((t) => `    ${short(t.config).padEnd(40)} eval ${fmt(t.evalLoss)}${t.verified ? ' (checked)' : ''}`),
      ...((b['failed'] as { trial: string; reason: string }[]) ?? []).map((f) => `    failed ${f.trial}: ${f.reason}`),
    ].join('\n');
  }
  if (b['kind'] === 'proposal')
    return b['accepted']
      ? `${head}: designer proposed "${String((b['phase'] as { name: string }).name)}": ${String(b['why'] ?? '')}`
      : `${head}: designer proposal refused: ${String(b['reason'])}`;
  if (b['kind'] === 'converged')
    return `${head}: converged (best eval per phase ${(b['history'] as number[]).map((x) => fmt(x)).join(', ')})`;
  if (b['kind'] === 'result')
    return `${head}: ${String(b['reason'])}; best ${short(b['best'] as Record<string, unknown>)}; test loss ${fmt((b['base'] as { testLoss: number } | null)?.testLoss)} -> ${fmt((b['winner'] as { testLoss: number } | null)?.testLoss)} (${b['testImprovement'] === null ? '-' : `${((b['testImprovement'] as number) * 100).toFixed(2)}% better`})`;
  return `${head}: ${JSON.stringify(b)}`;
}

function markdown(r: Omit<Report, 'plotPng'>): string {
  const rows = r.phases.map(
    (p, i) => `| ${i} | ${p.name} | ${p.configs} | ${p.steps ?? '-'} | ${fmt(p.best_eval_loss)} | ${short(p.winner)} |`,
  );
  const res = r.result;
  return [
    `# Research run ${r.runId}: ${r.name}`,
    '',
    `State: ${r.state}${r.stopReason ? ` (${r.stopReason})` : ''}. Data: ${r.data}. Trial budget: ${r.budgetSteps} steps.`,
    '',
    '| phase | focus | configs | steps | best eval loss | winner (vs the base) |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Best config: ${short(r.best.change)} (eval loss ${fmt(r.best.evalLoss)}).`,
    res
      ? `Held-out test loss (never used for selection): base ${fmt(res.base?.testLoss)}, best ${fmt(res.winner?.testLoss)}, improvement ${res.testImprovement === null || res.testImprovement === undefined ? '-' : `${(res.testImprovement * 100).toFixed(2)}%`}.`
      : 'The run has not finished: no test-set result yet.',
    '',
  ].join('\n');
}
