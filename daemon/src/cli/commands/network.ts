import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { runTrainer } from '../../diloco/trainer-runner.js';
import { createLogger } from '../../log/logger.js';
import { describeNetwork, resolveNetwork } from '../../network/joined.js';
import { type NetworkSpec, networkIdOf, parseSpec, specFromConfig } from '../../network/spec.js';
import { nodeSchema } from '../../node/node-config.js';
import type { Field } from '../../config/schema.js';
import { ConfigError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/fs.js';
import { resolveHome } from '../home-option.js';
import { fail, printJson } from '../output.js';

export interface InitFlags {
  out: string;
  name?: string;
  preset?: string;
  seed?: string;
  data?: string;
  members?: string;
  innerSteps?: string;
  set: string[];
  chainDeployment?: string;
  genesis?: boolean;
  python?: string;
  force?: boolean;
  json?: boolean;
}

/** `magnet-node network init|show`: write a network spec, and say what one holds and what its id is. */
export function registerNetworkCommands(program: Command): void {
  const network = program
    .command('network')
    .description('define a network (a spec file every member starts with: model, data, round settings, members) and inspect one');

  network
    .command('init')
    .description("write a network spec: today's defaults, changed by the options below; its hash is the network id")
    .requiredOption('--out <file>', 'where to write the spec (JSON)')
    .option('--name <name>', 'a name people see beside the id')
    .option('--preset <preset>', 'model preset of the round-0 checkpoint (tiny, small, genkidama)')
    .option('--seed <n>', 'seed of the round-0 checkpoint and of the data order')
    .option('--data <source>', "training data every member reads: a path that exists on every member, or 'stdlib' / 'generated'")
    .option('--members <list>', 'members, comma-separated wallets (0x...) or nodeIds (node-...); each reads its own slice of the data')
    .option('--inner-steps <H>', 'inner steps per round')
    .option('--set <key=value>', 'any other spec value, e.g. round.batch=8 or round.compression=int8 (repeatable)', collect, [])
    .option('--chain-deployment <file>', 'the deployment file `magnet-node chain deploy` wrote: members are paid on that chain')
    .option('--genesis', 'run the trainer once to record the round-0 checkpoint hash every member must make')
    .option('--python <path>', 'Python interpreter for --genesis (default: the repository .venv)')
    .option('--force', 'overwrite --out if it exists')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  magnet-node network init --name lab --members node-1a2b...,node-3c4d... --out lab.json',
        '  magnet-node network init --preset small --set round.compression=int8 --genesis --out small.json',
        '  magnet-node start --network lab.json',
      ].join('\n'),
    )
    .action(async (flags: InitFlags) => {
      try {
        if (existsSync(flags.out) && !flags.force)
          throw new ConfigError(`${flags.out} exists (--force overwrites it)`, { file: flags.out });
        const spec = await initSpec(flags);
        writeFileAtomic(flags.out, JSON.stringify(spec, null, 2) + '\n');
        const id = networkIdOf(spec);
        if (flags.json) printJson({ id, file: flags.out, spec });
        else process.stdout.write(`network ${id}\nwritten to ${flags.out}; members join with: magnet-node start --network ${flags.out}\n`);
      } catch (err) {
        fail(err);
      }
    });

  network
    .command('show <spec>')
    .description('check a spec file (or the id of a network this home joined) and print its id and settings')
    .option('--home <dir>', 'data directory where joined networks are kept (default ~/.magnet, env MAGNET_HOME)')
    .option('--json', 'print JSON')
    .action((ref: string, flags: { home?: string; json?: boolean }) => {
      try {
        const n = resolveNetwork(ref, resolveHome(flags.home));
        if (flags.json) printJson({ id: n.id, spec: n.spec });
        else process.stdout.write(describeSpec(n.id, n.spec));
      } catch (err) {
        fail(err);
      }
    });
}

function collect(v: string, all: string[]): string[] {
  return [...all, v];
}

/** Today's defaults (never this machine's environment: a spec is the same wherever it is written), then the flags. */
export async function initSpec(flags: InitFlags): Promise<NetworkSpec> {
  const defaults = (key: string) => {
    const [g, k] = key.split('.') as [keyof typeof nodeSchema, string];
    return (nodeSchema[g] as Record<string, Field<unknown>>)[k]?.default;
  };
  const draft = specFromConfig(defaults, { name: flags.name ?? '', withMembers: flags.members !== undefined }) as unknown as Record<
    string,
    Record<string, unknown>
  >;
  const edits: [string, unknown][] = [];
  if (flags.preset !== undefined) edits.push(['model.preset', flags.preset]);
  if (flags.seed !== undefined) edits.push(['model.seed', jsonOrText(flags.seed)]);
  if (flags.data !== undefined) edits.push(['data.source', flags.data]);
  if (flags.innerSteps !== undefined) edits.push(['round.innerSteps', jsonOrText(flags.innerSteps)]);
  if (flags.members !== undefined) {
    const members = flags.members
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    edits.push(['membership.members', members]);
    // Members listed: each reads its own slice (disjoint) unless --set says otherwise.
    edits.push(['data.assignment', 'members']);
  }
  for (const s of flags.set) {
    const i = s.indexOf('=');
    if (i <= 0) throw new ConfigError(`--set ${s}: expected KEY=VALUE, e.g. round.batch=8`, { key: s });
    edits.push([s.slice(0, i), jsonOrText(s.slice(i + 1))]);
  }
  for (const [path, value] of edits) {
    const [g, k, ...rest] = path.split('.');
    if (!g || !k || rest.length > 0) throw new ConfigError(`--set ${path}: a spec key is GROUP.KEY, e.g. round.batch`, { key: path });
    if (typeof draft[g] !== 'object') draft[g] = {};
    (draft[g] as Record<string, unknown>)[k] = value;
  }
  if (flags.chainDeployment) draft['chain'] = { deployment: readJson(flags.chainDeployment) };
  let spec = parseSpec(JSON.stringify(draft), 'built from the options');
  if (flags.genesis) spec = { ...spec, model: { ...spec.model, genesisSha256: await genesisOf(spec, flags.python) } };
  return spec;
}

/** `--set round.batch=8` is a number, `--set data.source=corpus.txt` a string, `--set membership.members=["0x.."]` a list. */
function jsonOrText(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { file });
  }
}

/** The round-0 checkpoint hash this machine's trainer makes for the spec's preset, shape and seed. */
async function genesisOf(spec: NetworkSpec, python = ''): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'magnet-genesis-'));
  try {
    const shape = spec.model.shape ? ['--shape', spec.model.shape] : [];
    const args = [
      'init',
      '--preset',
      spec.model.preset,
      ...shape,
      '--seed',
      String(spec.model.seed),
      '--out',
      join(dir, 'genesis.safetensors'),
    ];
    const r = await runTrainer(args, { python, log: createLogger('warn') });
    return String(r['sha256']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function describeSpec(id: string, s: NetworkSpec): string {
  const round = Object.entries(s.round)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return [
    `network   ${describeNetwork({ id, spec: s })}`,
    `id        ${id}`,
    `model     preset ${s.model.preset}${s.model.shape ? ` (${s.model.shape})` : ''}, seed ${s.model.seed}, round 0 ${s.model.genesisSha256 || 'not pinned (no --genesis)'}`,
    `tokenizer ${s.tokenizer}`,
    `data      ${s.data.source} (${s.data.assignment === 'members' ? 'one slice per member' : `slice by nodeId hash of ${s.data.slices}`})`,
    `round     ${round}`,
    `members   ${s.membership ? (s.membership.members.length ? s.membership.members.join(', ') : 'none listed: each node alone') : "each node's own settings"}`,
    `chain     ${s.chain ? `chain ${String(s.chain.deployment['chainId'])}, ledger ${String((s.chain.deployment['addresses'] as Record<string, unknown>)['ledger'])}` : "each node's own settings"}`,
    '',
  ].join('\n');
}
