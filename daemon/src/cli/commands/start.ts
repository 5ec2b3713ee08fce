import { type Command, Option } from 'commander';
import { nodeSchema } from '../../node/node-config.js';
import { type Field, describeAllowed } from '../../config/schema.js';
import { createLogger, type LogLevel } from '../../log/logger.js';
import { type AssemblyHooks, assembleNode } from '../../node/assemble.js';
import type { MagnetNode } from '../../node/node.js';
import { loadNodeSetup } from '../load-node-config.js';
import { fail } from '../output.js';

/** What commander parsed: `config`, plus one value per generated flag under its camelCase name (`apiKeys`, `mdns`). */
export type StartFlags = { config?: string } & Record<string, string | boolean | undefined>;

/** A `start` flag generated from a schema field that names one (`flag` in the parts' options.ts). */
interface StartFlag {
  /** The config key it sets, "group.key". */
  key: string;
  field: Field<unknown>;
  option: Option;
}

/** Every schema field with a `flag`, in schema order: the flag's name, help, default and env var come from the field. */
export function startFlags(): StartFlag[] {
  const out: StartFlag[] = [];
  for (const [group, fields] of Object.entries(nodeSchema)) {
    for (const [name, field] of Object.entries(fields as Record<string, Field<unknown>>)) {
      if (field.flag) out.push({ key: `${group}.${name}`, field, option: new Option(field.flag, flagHelp(field, field.flag)) });
    }
  }
  return out;
}

function flagHelp(f: Field<unknown>, flag: string): string {
  const shown = (v: unknown) => (v === '' || (Array.isArray(v) && v.length === 0) ? 'none' : Array.isArray(v) ? v.join(',') : String(v));
  if (flag.startsWith('--no-')) return `turn off: ${f.doc} (default on${f.env ? `; env ${f.env}=false` : ''})`;
  const allowed = f.kind === 'choice' ? `${describeAllowed(f)}; ` : f.kind === 'list' ? 'comma-separated; ' : '';
  return `${f.doc} (${allowed}default ${shown(f.default)}${f.env ? `; env ${f.env}` : ''})`;
}

/** Maps `start` flags onto config keys; flags not given leave lower layers (config file, env) in charge. */
export function startFlagsToLayer(f: StartFlags): Record<string, unknown> {
  const layer: Record<string, unknown> = {};
  for (const { key, option } of startFlags()) {
    const v = f[option.attributeName()];
    // commander sets a `--no-x` value to true when the flag is absent: only an explicit `--no-x` counts.
    if (option.negate) layer[key] = v === false ? false : undefined;
    else if (option.isBoolean()) layer[key] = v === true ? true : undefined;
    else layer[key] = v;
  }
  return layer;
}

export function registerStartCommand(program: Command): void {
  withStartOptions(program.command('start').description('run the node daemon in the foreground until SIGINT/SIGTERM'))
    .addHelpText('after', startHelpFooter())
    .action((flags: StartFlags) => runDaemon(flags));
}

/** After the flags in `start --help`: precedence, the settings that have only a variable, examples. */
export function startHelpFooter(): string {
  const envOnly: string[] = [];
  for (const fields of Object.values(nodeSchema)) {
    for (const f of Object.values(fields as Record<string, Field<unknown>>)) if (f.env && !f.flag) envOnly.push(f.env);
  }
  return [
    '',
    'Environment: each flag above names its variable (env ...). Flags win over',
    'variables, variables over the --config file.',
    `${envOnly.length} more settings have only a variable (${envOnly.slice(0, 2).join(', ')}, ...):`,
    'see README, Configuration. MAGNET_PASSPHRASE unlocks the keystore where there',
    'is no terminal to ask for it on.',
    '',
    'Examples:',
    '  MAGNET_PASSPHRASE=... magnet-node start',
    '  magnet-node start --home /var/lib/magnet --api 0.0.0.0:7680 --no-mdns',
    '  MAGNET_LOG_LEVEL=debug magnet-node start --config node.json',
  ].join('\n');
}

/** The `start` flags, on `cmd` (also the adversary tool's, which starts a node the same way). */
export function withStartOptions(cmd: Command): Command {
  cmd.option('--config <file>', 'JSON config file (groups of options, see README)');
  for (const { option } of startFlags()) cmd.addOption(option);
  return cmd;
}

/**
 * Runs the node in the foreground until SIGINT/SIGTERM, then stops it and exits. `hooks` and `started` are for the
 * adversary testing tool (daemon/src/adversary), which runs a real node with its honest behaviour bypassed.
 */
export async function runDaemon(flags: StartFlags, hooks: AssemblyHooks = {}, started?: (node: MagnetNode) => void): Promise<void> {
  let setup;
  try {
    setup = loadNodeSetup(startFlagsToLayer(flags), flags.config);
  } catch (err) {
    fail(err);
  }
  const { config, network } = setup;
  const log = createLogger(config.node.logLevel as LogLevel);
  let node;
  try {
    node = await assembleNode(config, { env: process.env, log, network }, hooks);
    await node.start();
  } catch (err) {
    if (node) await node.stop().catch(() => undefined);
    fail(err);
  }
  started?.(node);
  await waitForSignal();
  log.info('shutting down');
  try {
    await node.stop();
    process.exit(0);
  } catch (err) {
    fail(err);
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(sig);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
