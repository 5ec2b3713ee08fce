#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerBlobCommands } from './commands/blob.js';
import { registerChainCommands } from './commands/chain.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerPeersCommands } from './commands/peers.js';
import { registerProfileCommand } from './commands/profile.js';
import { registerServeCommands } from './commands/serve.js';
import { registerStartCommand } from './commands/start.js';
import { registerStatusCommand } from './commands/status.js';
import { registerTestnetCommand } from './commands/testnet.js';

const program = new Command('magnet-node')
  .description('node daemon of a decentralized network that trains ternary (BitNet b1.58) models with DiLoCo and serves them on CPUs')
  .showHelpAfterError()
  .enablePositionalOptions();

registerStartCommand(program);
registerStatusCommand(program);
registerProfileCommand(program);
registerKeysCommands(program);
registerPeersCommands(program);
registerBlobCommands(program);
registerServeCommands(program);
registerTestnetCommand(program);
registerChainCommands(program);
program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`magnet-node ${VERSION}\n`);
  });

await program.parseAsync(process.argv);
