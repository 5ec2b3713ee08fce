/**
 * Compiles contracts/src/*.sol offline with the pinned solc-js (npm `solc`), EVM target pinned to cancun
 * (OpenZeppelin 5.x needs >= cancun; solc 0.8.30 defaults to prague), and writes one JSON per contract
 * ({contractName, abi, bytecode, deployedBytecode}) plus manifest.json into contracts/build/.
 * Usage: node dist/contracts/scripts/build.js [--out DIR]
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../daemon/src/util/fs.js';
import { REPO_ROOT } from '../../daemon/src/version.js';

const require = createRequire(import.meta.url);
const solc = require('solc') as {
  version(): string;
  compile(input: string, opts: { import: (p: string) => { contents: string } | { error: string } }): string;
};

export const SOLC_VERSION = '0.8.30';
export const EVM_VERSION = 'cancun';
export const BUILD_DIR = join(REPO_ROOT, 'contracts', 'build');
/** Contracts the daemon deploys and loads; interfaces are compiled but not written. */
export const CONTRACTS = ['Params', 'NodeRegistry', 'ContributionLedger', 'NotaryPanel', 'MagnetToken', 'MagnetTimelock'] as const;

interface SolcOutput {
  errors?: { severity: string; formattedMessage: string }[];
  contracts: Record<
    string,
    Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
  >;
}

export function compile(): SolcOutput {
  const version = solc.version();
  if (!version.startsWith(SOLC_VERSION + '+')) throw new Error(`solc ${SOLC_VERSION} is required, node_modules has ${version}`);
  const srcDir = join(REPO_ROOT, 'contracts', 'src');
  const sources: Record<string, { content: string }> = {};
  for (const f of readdirSync(srcDir)
    .filter((f) => f.endsWith('.sol'))
    .sort()) {
    sources[`contracts/src/${f}`] = { content: readFileSync(join(srcDir, f), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  // The import callback must be synchronous; OpenZeppelin resolves from node_modules, ours from the repo root.
  const findImports = (p: string): { contents: string } | { error: string } => {
    for (const c of [join(REPO_ROOT, 'node_modules', p), join(REPO_ROOT, p)]) {
      if (existsSync(c)) return { contents: readFileSync(c, 'utf8') };
    }
    return { error: `import not found: ${p}` };
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as SolcOutput;
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  return out;
}

export function build(outDir = BUILD_DIR): string[] {
  const out = compile();
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const name of CONTRACTS) {
    const c = out.contracts[`contracts/src/${name}.sol`]?.[name];
    if (!c) throw new Error(`solc output lacks ${name}`);
    const artifact = {
      contractName: name,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
    };
    writeFileAtomic(join(outDir, `${name}.json`), JSON.stringify(artifact) + '\n');
    written.push(name);
  }
  const manifest = { solc: solc.version(), evmVersion: EVM_VERSION, optimizerRuns: 200, contracts: written };
  writeFileAtomic(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return written;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const dir = i >= 0 && process.argv[i + 1] ? resolve(process.argv[i + 1]!) : BUILD_DIR;
  const t0 = Date.now();
  const names = build(dir);
  process.stdout.write(
    `compiled ${names.join(', ')} with solc ${solc.version()} (evm ${EVM_VERSION}) into ${dir} in ${Date.now() - t0} ms\n`,
  );
}
