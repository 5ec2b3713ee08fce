import type { Command } from 'commander';

/** Examples shown after each command's `--help`, by command path. Every leaf command has some (examples.test.ts). */
export const EXAMPLES: Record<string, string[]> = {
  start: [], // start has its own footer (precedence, variables, examples): start.ts
  status: ['magnet-node status', 'magnet-node status --home /var/lib/magnet --json'],
  profile: ['magnet-node profile', 'magnet-node profile --save   # measure again and keep this tier'],
  'keys create': ['MAGNET_PASSPHRASE=... magnet-node keys create --home ~/.magnet'],
  'keys show': ['magnet-node keys show --json'],
  'keys import': ['magnet-node keys import --key-file key.hex', 'cat key.hex | magnet-node keys import'],
  peers: ['magnet-node peers', 'magnet-node peers --json'],
  'peers forget': ['magnet-node peers forget node-1a2b3c4d5e6f7a8b'],
  'blob put': ['magnet-node blob put model.gguf --kind model', 'magnet-node blob put data.txt --json --no-progress'],
  'blob get': ['magnet-node blob get 5c48...fa out.bin'],
  'blob status': ['magnet-node blob status 5c48...fa', 'magnet-node blob status 5c48...fa --json'],
  gc: ['magnet-node gc', 'magnet-node gc --json'],
  serve: ['magnet-node serve --model model.gguf --api 127.0.0.1:8080'],
  generate: ["magnet-node generate --model model.gguf --prompt 'def add(a, b):'"],
  testnet: [
    'magnet-node testnet --nodes 3 --rounds 3 --H 20',
    'magnet-node testnet --nodes 3 --chain',
    'magnet-node testnet --network lab.json --dir /tmp/lab',
  ],
  'chain deploy': ['magnet-node chain deploy --rpc http://127.0.0.1:8545 --out deployment.json --key-file deployer.hex --fast'],
  'chain register': ['magnet-node chain register --bond 1 --rpc http://127.0.0.1:8545 --deployment deployment.json'],
  'chain withdraw': ['magnet-node chain withdraw --rpc http://127.0.0.1:8545 --deployment deployment.json'],
  claims: ['magnet-node claims --json'],
  rewards: ['magnet-node rewards --home ~/.magnet'],
  doctor: ['magnet-node doctor', 'MAGNET_NETWORK=lab.json magnet-node doctor --json'],
  dashboard: ['magnet-node dashboard   # then open the printed link in a browser on this machine'],
  'network init': [], // its own examples: network.ts
  'network show': ['magnet-node network show lab.json', 'magnet-node network show 53f2a78b --home ~/.magnet'],
  'research start': ['magnet-node research start --builtin genkidama-tiny', 'magnet-node research start --plan plan.json'],
  'research status': ['magnet-node research status', 'magnet-node research status --json'],
  'research stop': ['magnet-node research stop'],
  'research insights': [
    'magnet-node research insights',
    'magnet-node research insights --json',
    'magnet-node research insights --import 5c48...fa',
  ],
  'research report': ['magnet-node research report --out report/   # report.md, report.json, plot.png'],
  'research spec': ['magnet-node research spec --out next.json --genesis && magnet-node start --network next.json'],
  completion: ['source <(magnet-node completion)', 'magnet-node completion > ~/.local/share/bash-completion/completions/magnet-node'],
  version: ['magnet-node --version'],
};

/** Every command path that has no subcommands ("blob put", "status"). */
export function leafPaths(program: Command): string[] {
  const out: string[] = [];
  const walk = (cmd: Command, path: string) => {
    if (cmd.commands.length === 0 && path) out.push(path);
    for (const c of cmd.commands) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return out;
}

/** Adds each command's examples after its `--help`. */
export function addExamples(program: Command): void {
  const walk = (cmd: Command, path: string) => {
    const ex = EXAMPLES[path];
    if (ex && ex.length > 0) cmd.addHelpText('after', ['', 'Examples:', ...ex.map((e) => `  ${e}`)].join('\n'));
    for (const c of cmd.commands) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
}
