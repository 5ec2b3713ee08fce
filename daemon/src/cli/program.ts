import { Command, type CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerBlobCommands } from './commands/blob.js';
import { registerChainCommands } from './commands/chain.js';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerGcCommand } from './commands/gc.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerNetworkCommands } from './commands/network.js';
import { registerPeersCommands } from './commands/peers.js';
import { registerProfileCommand } from './commands/profile.js';
import { registerResearchCommands } from './commands/research.js';
import { registerServeCommands } from './commands/serve.js';
import { registerStartCommand } from './commands/start.js';
import { registerStatusCommand } from './commands/status.js';
import { registerTestnetCommand } from './commands/testnet.js';
import { bashCompletion } from './completion.js';
import { addExamples } from './examples.js';
import { USAGE_EXIT_CODE, shortUsageErrors } from './usage-errors.js';

/** The whole command line: every command, its options, examples and usage-error handling. */
export function buildProgram(): Command {
  const program = new Command('magnet-node')
    .description('node daemon of a decentralized network that trains ternary (BitNet b1.58) models with DiLoCo and serves them on CPUs')
    .version(`magnet-node ${VERSION}`, '-V, --version', 'print the version')
    .enablePositionalOptions()
    // Set before the commands are added: each inherits it. Help and --version exit 0, a usage error 2.
    .exitOverride((err: CommanderError) => process.exit(err.exitCode === 0 ? 0 : USAGE_EXIT_CODE));

  registerStartCommand(program);
  registerStatusCommand(program);
  registerProfileCommand(program);
  registerKeysCommands(program);
  registerPeersCommands(program);
  registerBlobCommands(program);
  registerGcCommand(program);
  registerServeCommands(program);
  registerTestnetCommand(program);
  registerChainCommands(program);
  registerDoctorCommand(program);
  registerDashboardCommand(program);
  registerNetworkCommands(program);
  registerResearchCommands(program);
  program
    .command('completion')
    .description('print a bash completion script (zsh: after bashcompinit); e.g. source <(magnet-node completion)')
    .action(() => {
      process.stdout.write(bashCompletion(program));
    });
  program
    .command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`magnet-node ${VERSION}\n`);
    });
  addExamples(program);
  shortUsageErrors(program);
  return program;
}
