import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InterfaceAbi } from 'ethers';
import { REPO_ROOT } from '../version.js';
import { MagnetError, errorMessage } from '../util/errors.js';

export const CONTRACT_NAMES = ['Params', 'NodeRegistry', 'ContributionLedger', 'NotaryPanel', 'MagnetToken', 'MagnetTimelock'] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

export interface Artifact {
  contractName: ContractName;
  abi: InterfaceAbi;
  bytecode: string;
}

/** Where `npm run contracts:build` writes ABI and bytecode (git-ignored). */
export const DEFAULT_BUILD_DIR = join(REPO_ROOT, 'contracts', 'build');

const cache = new Map<string, Artifact>();

/** Loads one compiled contract; a missing build names the command that makes it. */
export function loadArtifact(name: ContractName, dir = DEFAULT_BUILD_DIR): Artifact {
  const file = join(dir, `${name}.json`);
  const hit = cache.get(file);
  if (hit) return hit;
  let a: Artifact;
  try {
    a = JSON.parse(readFileSync(file, 'utf8')) as Artifact;
  } catch (err) {
    throw new MagnetError(
      'ERR_CHAIN_ARTIFACTS',
      `cannot read contract artifact ${file} (run \`npm run contracts:build\`): ${errorMessage(err)}`,
      { file },
    );
  }
  if (a.contractName !== name || !Array.isArray(a.abi) || !/^0x[0-9a-f]+$/i.test(a.bytecode)) {
    throw new MagnetError('ERR_CHAIN_ARTIFACTS', `contract artifact ${file} is malformed (rebuild with \`npm run contracts:build\`)`, {
      file,
    });
  }
  cache.set(file, a);
  return a;
}

/**
 * Makes sure the compiled contracts exist, compiling them with the pinned solc-js when the build folder lacks
 * them (a fresh checkout or container where only `npm run build` ran). Needs the `solc` package.
 */
export async function ensureArtifacts(dir = DEFAULT_BUILD_DIR): Promise<void> {
  if (CONTRACT_NAMES.every((n) => existsSync(join(dir, `${n}.json`)))) return;
  let build: (outDir?: string) => string[];
  try {
    // dist/daemon/src/chain -> dist/contracts/scripts/build.js (compiled from contracts/scripts/build.ts)
    const modPath = '../../../contracts/scripts/build.js';
    ({ build } = (await import(modPath)) as { build: (outDir?: string) => string[] });
  } catch (err) {
    throw new MagnetError(
      'ERR_CHAIN_ARTIFACTS',
      `contract artifacts are missing in ${dir} and cannot be compiled here (run \`npm run contracts:build\`): ${errorMessage(err)}`,
      { dir },
    );
  }
  build(dir);
}
