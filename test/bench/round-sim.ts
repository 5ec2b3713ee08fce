/**
 * The round simulation (daemon/src/sim) as a benchmark: real round coordinators over a simulated network and clock,
 * one run per node count. For every flag, run test/sim/run.ts; here the environment picks:
 * MAGNET_SIM_NODES (10,100), MAGNET_SIM_MEMBERS (0 = all), MAGNET_SIM_ROUNDS (3), MAGNET_SIM_HOSTILE (0.02),
 * MAGNET_SIM_CHURN (0.05), MAGNET_SIM_LOSS (0.01), MAGNET_SIM_PARTITION (0).
 */
import { SIM_DEFAULTS } from '../../daemon/src/sim/sim-options.js';
import { formatReports, type SimReport } from '../../daemon/src/sim/sim-report.js';
import { simulate } from '../../daemon/src/sim/simulation.js';

export async function run(): Promise<void> {
  const env = (k: string, d: number) => Number(process.env[`MAGNET_SIM_${k}`] ?? d);
  const reports: SimReport[] = [];
  for (const n of (process.env['MAGNET_SIM_NODES'] ?? '10,100').split(',').map(Number)) {
    reports.push(
      await simulate({
        nodes: n,
        members: env('MEMBERS', 0),
        rounds: env('ROUNDS', 3),
        hostile: env('HOSTILE', SIM_DEFAULTS.hostile),
        churn: env('CHURN', SIM_DEFAULTS.churn),
        partition: env('PARTITION', 0),
        net: { loss: env('LOSS', SIM_DEFAULTS.net.loss) },
      }),
    );
  }
  console.log(formatReports(reports));
}
