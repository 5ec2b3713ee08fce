import type { Command } from 'commander';
import { type Finding, runDoctor } from '../../node/doctor.js';
import { callDaemon } from '../daemon-client.js';
import type { JoinedNetwork } from '../../network/joined.js';
import type { NodeConfig } from '../../node/node-config.js';
import { errorMessage } from '../../util/errors.js';
import { loadNodeSetup, loadOwnConfig } from '../load-node-config.js';
import { fail, printJson } from '../output.js';

interface DoctorFlags {
  home?: string;
  config?: string;
  json?: boolean;
}

/** `magnet-node doctor`: what a node needs before it joins, each result with what to do when it fails. */
export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description(
      'check what this node needs before it joins: listen ports, disk space and the SSD test, clock, torch and GPUs, ' +
        'the native kernels, kubo and the chain when configured; exits 1 when a check fails',
    )
    .option('--home <dir>', 'data directory of the node (default ~/.magnet, env MAGNET_HOME)')
    .option('--config <file>', 'the config file `start --config` would read (the environment applies as for start)')
    .option('--json', 'print JSON')
    .action(async (flags: DoctorFlags) => {
      try {
        const flagsLayer = { 'node.home': flags.home };
        // A spec that cannot be used is one finding among the others, not the end of the checks.
        let setup: { config: NodeConfig; network?: JoinedNetwork; networkError?: string };
        try {
          setup = loadNodeSetup(flagsLayer, flags.config);
        } catch (err) {
          const own = loadOwnConfig(flagsLayer, flags.config);
          if (!own.node.network) throw err;
          setup = { config: own, networkError: errorMessage(err) };
        }
        const { config } = setup;
        const daemonRunning = await callDaemon(config.node.home, '/status', { timeoutMs: 2_000 }).then(
          () => true,
          () => false,
        );
        const findings = await runDoctor(config, {
          daemonRunning,
          env: process.env,
          ...(setup.network ? { network: setup.network } : {}),
          ...(setup.networkError ? { networkError: setup.networkError } : {}),
        });
        const failed = findings.filter((f) => f.status === 'fail').length;
        if (flags.json) printJson({ ok: failed === 0, findings });
        else process.stdout.write(format(findings));
        if (failed > 0) process.exitCode = 1;
      } catch (err) {
        fail(err);
      }
    });
}

function format(findings: readonly Finding[]): string {
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines = findings.flatMap((f) => [
    `${f.status.padEnd(4)}  ${f.check.padEnd(width)}  ${f.detail}`,
    ...(f.fix && f.status !== 'ok' ? [`${' '.repeat(6 + width)}  fix: ${f.fix}`] : []),
  ]);
  const failed = findings.filter((f) => f.status === 'fail').length;
  const warned = findings.filter((f) => f.status === 'warn').length;
  lines.push(failed === 0 ? `ready to join${warned ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}` : `${failed} check(s) failed`);
  return lines.join('\n') + '\n';
}
