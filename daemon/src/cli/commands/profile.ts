import type { Command } from 'commander';
import { join } from 'node:path';
import { HomeDir } from '../../node/home.js';
import { saveProfile, tierAtStart } from '../../profile/offline.js';
import { measureProfile } from '../../profile/profile.js';
import { loadRewardConfig } from '../../profile/reward-config.js';
import { classifyTier } from '../../profile/tier.js';
import { REPO_ROOT } from '../../version.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

interface ProfileFlags {
  home?: string;
  blocks: string;
  queueDepth: string;
  runs: string;
  researchAgent?: boolean;
  save?: boolean;
  json?: boolean;
}

export function registerProfileCommand(program: Command): void {
  program
    .command('profile')
    .description(
      'profile this machine (CPU, SIMD, RAM, GPUs, disk, SSD test) and print its tier. A start keeps the tier saved in the ' +
        'home until a measurement clearly crosses a threshold (hysteresis, see README); --save re-measures on purpose and ' +
        'replaces the saved tier',
    )
    .option('--home <dir>', "run the SSD test on this directory's filesystem (default ~/.magnet, env MAGNET_HOME)")
    .option('--blocks <n>', 'SSD test blocks of 4 KiB', '1000')
    .option('--queue-depth <n>', 'SSD test requests in flight', '4')
    .option('--runs <n>', 'SSD test passes; the median read and write rates count', '3')
    .option('--research-agent', 'declare research orchestration (claude_session tier when the hardware allows)')
    .option('--save', "save this measurement in the home's state database: it replaces the saved tier, and the next start takes it")
    .option('--json', 'print JSON')
    .action(async (flags: ProfileFlags) => {
      try {
        const home = new HomeDir(resolveHome(flags.home));
        home.ensure();
        const blocks = Number(flags.blocks);
        const queueDepth = Number(flags.queueDepth);
        if (!Number.isInteger(blocks) || blocks < 16) throw new Error(`--blocks ${flags.blocks}: allowed an integer >= 16`);
        if (!Number.isInteger(queueDepth) || queueDepth < 1 || queueDepth > 64)
          throw new Error(`--queue-depth ${flags.queueDepth}: allowed an integer in 1..64`);
        const runs = Number(flags.runs);
        if (!Number.isInteger(runs) || runs < 1 || runs > 15) throw new Error(`--runs ${flags.runs}: allowed an integer in 1..15`);
        const rewards = loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), process.env);
        const profile = await measureProfile({
          dataDir: home.root,
          ssdTest: true,
          ssdBlocks: blocks,
          ssdQueueDepth: queueDepth,
          ssdRuns: runs,
        });
        const researchAgent = flags.researchAgent === true;
        const decision = classifyTier({ hardware: profile.hardware, ssd: profile.ssd, researchAgent }, rewards);
        // What a start would take with this measurement: the saved checks hold unless it clearly crosses a floor.
        const atStart = flags.save
          ? saveProfile(home.database, profile, researchAgent, rewards)
          : tierAtStart(home.database, profile, researchAgent, rewards);
        if (flags.json) {
          printJson({
            tier: decision.tier,
            multiplier: decision.multiplier,
            roles: decision.allowedRoles,
            ssdPass: decision.ssdPass,
            reasons: decision.reasons,
            startTier: atStart?.tier ?? decision.tier,
            held: atStart?.held ?? [],
            saved: flags.save === true,
            ...profile,
          });
          return;
        }
        const hw = profile.hardware;
        const out = [
          `cpu       ${hw.cpuModel} (${hw.arch}, ${hw.cores} cores)`,
          `simd      ${hw.simd.join(' ') || 'none detected'}`,
          `ram       ${hw.ramGiB} GiB`,
          `gpus      ${hw.gpus.map((g) => `${g.name} ${g.memoryGiB} GiB`).join(', ') || 'none'}`,
          `disk      ${hw.diskFreeGiB} GiB free at ${home.root}`,
          `ssd       read ${profile.ssd?.readMBps} MB/s, write ${profile.ssd?.writeMBps} MB/s (median of ${profile.ssd?.runs} runs of ${profile.ssd?.blocks} x 4 KiB, queue depth ${profile.ssd?.queueDepth}, ${profile.ssd?.method})`,
          `tier      ${decision.tier} (x${decision.multiplier}), roles ${decision.allowedRoles.join(', ')}`,
          `why       ${decision.reasons.join('; ')}`,
        ];
        if (flags.save) out.push(`saved     in ${home.database}: the next start takes this tier`);
        else if (atStart && atStart.tier !== decision.tier) {
          out.push(`at start  ${atStart.tier} is kept: ${atStart.held.join('; ')} (--save replaces it with this measurement)`);
        }
        process.stdout.write(`${out.join('\n')}\n`);
      } catch (err) {
        fail(err);
      }
    });
}
