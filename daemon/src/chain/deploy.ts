import { readFileSync } from 'node:fs';
import { Contract, ContractFactory, ZeroHash, getAddress, id, type ContractRunner, type Signer } from 'ethers';
import { writeFileAtomic } from '../util/fs.js';
import { MagnetError, errorMessage } from '../util/errors.js';
import { DEFAULT_BUILD_DIR, loadArtifact, type ContractName } from './artifacts.js';
import type { ChainParams } from './chain-params.js';

/** What `chain deploy` writes and nodes load with --chain-deployment. */
export interface Deployment {
  chainId: string;
  block: number;
  deployer: string;
  deployedAt: string;
  /** `timelock` governs Params (absent in deployments made before the timelock, and with governance 'deployer'). */
  addresses: { params: string; registry: string; ledger: string; panel: string; token: string; timelock?: string };
}

export interface DeployOptions {
  /**
   * 'timelock' (the default): Params is sealed to a MagnetTimelock whose proposer and executor is the deployer, and
   * the deployer drops the admin role of the registry and the ledger, so nobody can grant the slasher or panel role
   * again. 'deployer': the deployer keeps every role, for contract tests that drive a contract's internals directly.
   */
  governance?: 'timelock' | 'deployer';
  /**
   * Who may schedule and execute changes in the timelock (default: the deployer). On a public chain, a multisig:
   * the deployer's key is a hot wallet, and it keeps no role when another proposer is named.
   */
  proposer?: string;
}

export interface ChainContracts {
  params: Contract;
  registry: Contract;
  ledger: Contract;
  panel: Contract;
  token: Contract;
}

export function attach(d: Deployment, runner: ContractRunner, buildDir = DEFAULT_BUILD_DIR): ChainContracts {
  const c = (name: ContractName, addr: string) => new Contract(addr, loadArtifact(name, buildDir).abi, runner);
  return {
    params: c('Params', d.addresses.params),
    registry: c('NodeRegistry', d.addresses.registry),
    ledger: c('ContributionLedger', d.addresses.ledger),
    panel: c('NotaryPanel', d.addresses.panel),
    token: c('MagnetToken', d.addresses.token),
  };
}

/**
 * Deploys Params, NodeRegistry, ContributionLedger (which creates MagnetToken) and NotaryPanel, wires the roles
 * (the panel alone may slash, and rules on claims and no-shows), applies `p` as the genesis values, then (by default) hands
 * governance to a timelock of `p.timelockDelay` and gives up every admin role (see DeployOptions).
 */
export async function deployAll(
  deployer: Signer,
  p: ChainParams,
  buildDir = DEFAULT_BUILD_DIR,
  o: DeployOptions = {},
): Promise<Deployment> {
  const from = await deployer.getAddress();
  const provider = deployer.provider;
  if (!provider) throw new MagnetError('ERR_CHAIN_DEPLOY', 'the deployer signer has no provider');
  const { chainId } = await provider.getNetwork();
  const factory = (name: ContractName) => {
    const a = loadArtifact(name, buildDir);
    return new ContractFactory(a.abi, a.bytecode, deployer);
  };
  const deployed = async (name: ContractName, ...args: unknown[]) => {
    const c = await factory(name).deploy(...args);
    await c.waitForDeployment();
    return c as Contract;
  };
  const params = await deployed('Params', from, p.tierMultiplierBps, p.epochLength);
  const firstBlock = (await params.deploymentTransaction()!.wait())!.blockNumber;
  const registry = await deployed('NodeRegistry', await params.getAddress(), from);
  const ledger = await deployed('ContributionLedger', await params.getAddress(), await registry.getAddress(), from, p.maxSupply);
  const panel = await deployed('NotaryPanel', await params.getAddress(), await registry.getAddress(), await ledger.getAddress());
  const send = async (c: Contract, fn: string, ...args: unknown[]) => {
    const tx = await c.getFunction(fn)(...args);
    await tx.wait();
  };
  const panelAddr = await panel.getAddress();
  await send(registry, 'grantRole', id('SLASHER_ROLE'), panelAddr);
  await send(ledger, 'grantRole', id('PANEL_ROLE'), panelAddr);
  await applyParams(params, p);
  let timelock: string | undefined;
  if ((o.governance ?? 'timelock') === 'timelock') {
    const proposer = o.proposer ? getAddress(o.proposer) : from;
    const t = await deployed('MagnetTimelock', p.timelockDelay, [proposer], [proposer]);
    timelock = await t.getAddress();
    await send(params, 'seal', timelock);
    const admin = ZeroHash; // DEFAULT_ADMIN_ROLE
    await send(registry, 'renounceRole', admin, from);
    await send(ledger, 'renounceRole', admin, from);
  }
  return {
    chainId: chainId.toString(),
    block: firstBlock,
    deployer: from,
    deployedAt: new Date().toISOString(),
    addresses: {
      params: await params.getAddress(),
      registry: await registry.getAddress(),
      ledger: await ledger.getAddress(),
      panel: panelAddr,
      token: getAddress(await ledger.getFunction('token')()),
      ...(timelock ? { timelock } : {}),
    },
  };
}

/** Sets every governed value of Params to `p` (the deployer holds GOVERNOR_ROLE until Params is sealed). */
export async function applyParams(params: Contract, p: ChainParams): Promise<void> {
  const send = async (fn: string, ...args: unknown[]) => (await params.getFunction(fn)(...args)).wait();
  if ((await params.getFunction('epochLength')()) !== p.epochLength) await send('setEpochLength', p.epochLength);
  await send('setWindows', p.commitWindow, p.revealWindow, p.challengeWindow, p.adjudicationTimeout, p.unbondingDelay);
  await send('setEmission', p.epochPool, p.dailyCap);
  await send('setMinimumBonds', p.minNodeBond, p.minNotaryBond);
  await send('setChallengerShare', p.challengerShareBps);
  await send('setClaimCaps', p.maxTokensPerClaim, p.maxRewardShareBps);
  await send('setPanelRules', p.panelSize, p.quorumBps, p.minVotes);
  await send('setChallengeTerms', p.challengeBond, p.expiryPenaltyBps, p.slashDelay);
  for (let o = 0; o < p.slashRateBps.length; o++) await send('setSlashRate', o, p.slashRateBps[o]);
}

export function writeDeployment(file: string, d: Deployment): void {
  writeFileAtomic(file, JSON.stringify(d, null, 2) + '\n');
}

export function readDeployment(file: string): Deployment {
  let d: Deployment;
  try {
    d = JSON.parse(readFileSync(file, 'utf8')) as Deployment;
  } catch (err) {
    throw new MagnetError('ERR_CHAIN_DEPLOYMENT', `cannot read the chain deployment file ${file}: ${errorMessage(err)}`, { file });
  }
  const a = d?.addresses;
  for (const k of ['params', 'registry', 'ledger', 'panel', 'token'] as const) {
    if (!a || typeof a[k] !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(a[k])) {
      throw new MagnetError('ERR_CHAIN_DEPLOYMENT', `chain deployment file ${file}: addresses.${k} is missing or not an address`, {
        file,
        key: `addresses.${k}`,
      });
    }
  }
  if (a.timelock !== undefined && (typeof a.timelock !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(a.timelock)))
    throw new MagnetError('ERR_CHAIN_DEPLOYMENT', `chain deployment file ${file}: addresses.timelock is not an address`, { file });
  if (!/^\d+$/.test(String(d.chainId)))
    throw new MagnetError('ERR_CHAIN_DEPLOYMENT', `chain deployment file ${file}: chainId is not a number`, { file });
  return d;
}
