import type { Command } from 'commander';
import { join } from 'node:path';
import { HomeDir } from '../../node/home.js';
import { measureProfile } from '../../profile/profile.js';
import { loadRewardConfig } from '../../profile/reward-config.js';
import { classifyTier } from '../../profile/tier.js';
import { REPO_ROOT } from '../../version.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

export function registerProfileCommand(program: Command): void {
  program
    .command('profile')
    .description('profile this machine (CPU, SIMD, RAM, GPUs, disk, SSD test) and print its tier')
    .option('--home <dir>', 'run the SSD test on this directory\'s filesystem (default ~/.magnet, env MAGNET_HOME)')
    .option('--blocks <n>', 'SSD test blocks of 4 KiB', '1000')
    .option('--queue-depth <n>', 'SSD test requests in flight', '4')
    .option('--research-agent', 'declare research orchestration (claude_session tier when the hardware allows)')
    .option('--json', 'print JSON')
    .action(async (flags: { home?: string; blocks: string; queueDepth: string; researchAgent?: boolean; json?: boolean }) => {
      try {
        const home = new HomeDir(resolveHome(flags.home));
        home.ensure();
        const blocks = Number(flags.blocks);
        const queueDepth = Number(flags.queueDepth);
        if (!Number.isInteger(blocks) || blocks < 16) throw new Error(`--blocks ${flags.blocks}: allowed an integer >= 16`);
        if (!Number.isInteger(queueDepth) || queueDepth < 1 || queueDepth > 64) throw new Error(`--queue-depth ${flags.queueDepth}: allowed an integer in 1..64`);
        const rewards = loadRewardConfig(join(REPO_ROOT, 'config', 'reward-config.json'), process.env);
        const profile = await measureProfile({ dataDir: home.root, ssdTest: true, ssdBlocks: blocks, ssdQueueDepth: queueDepth });
        const decision = classifyTier({ hardware: profile.hardware, ssd: profile.ssd, researchAgent: flags.researchAgent === true }, rewards);
        if (flags.json) {
          printJson({ tier: decision.tier, multiplier: decision.multiplier, roles: decision.allowedRoles, ssdPass: decision.ssdPass, reasons: decision.reasons, ...profile });
          return;
        }
        const hw = profile.hardware;
        const out = [
          `cpu       ${hw.cpuModel} (${hw.arch}, ${hw.cores} cores)`,
          `simd      ${hw.simd.join(' ') || 'none detected'}`,
          `ram       ${hw.ramGiB} GiB`,
          `gpus      ${hw.gpus.map((g) => `${g.name} ${g.memoryGiB} GiB`).join(', ') || 'none'}`,
          `disk      ${hw.diskFreeGiB} GiB free at ${home.root}`,
          `ssd       read ${profile.ssd?.readMBps} MB/s, write ${profile.ssd?.writeMBps} MB/s (${profile.ssd?.blocks} x 4 KiB, queue depth ${profile.ssd?.queueDepth}, ${profile.ssd?.method})`,
          `tier      ${decision.tier} (x${decision.multiplier}), roles ${decision.allowedRoles.join(', ')}`,
          `why       ${decision.reasons.join('; ')}`,
        ];
        process.stdout.write(`${out.join('\n')}\n`);
      } catch (err) {
        fail(err);
      }
    });
}
