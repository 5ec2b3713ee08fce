import { Contract, type EventLog, type JsonRpcProvider, getAddress } from 'ethers';
import type { RegistryEntry, RegistrySource } from '../membership/registry-source.js';
import { DEFAULT_BUILD_DIR, ensureArtifacts, loadArtifact } from './artifacts.js';
import { nodeIdFromBytes8 } from './connection.js';
import { readDeployment } from './deploy.js';
import { makeProvider } from './provider.js';

/**
 * The member list of a chain-backed network: every wallet that ever emitted NodeRegistered (logs read
 * incrementally from the deployment block), each with its current record and `isActive` (bonded at least the
 * minimum, not unbonding). The registry itself checked that each nodeId belongs to its wallet's key.
 */
export class RegistryReader implements RegistrySource {
  private provider: JsonRpcProvider | undefined;
  private registry: Contract | undefined;
  private readonly owners = new Set<string>();
  private nextBlock = 0;

  constructor(
    private readonly rpc: string,
    private readonly deploymentFile: string,
    private readonly buildDir = DEFAULT_BUILD_DIR,
  ) {}

  async list(): Promise<RegistryEntry[]> {
    const registry = await this.contract();
    const head = await (this.provider as JsonRpcProvider).getBlockNumber();
    if (head >= this.nextBlock) {
      const logs = await registry.queryFilter(registry.filters['NodeRegistered']!(), this.nextBlock, head);
      for (const l of logs) this.owners.add(getAddress(String((l as EventLog).args[0])));
      this.nextBlock = head + 1;
    }
    return Promise.all(
      [...this.owners].map(async (address) => {
        const n = (await registry.getFunction('nodeOf')(address)) as { nodeId: string; tier: bigint };
        const active = (await registry.getFunction('isActive')(address)) as boolean;
        return { address, nodeId: nodeIdFromBytes8(String(n.nodeId)), tier: Number(n.tier), active };
      }),
    );
  }

  close(): void {
    this.provider?.destroy();
  }

  private async contract(): Promise<Contract> {
    if (this.registry) return this.registry;
    const d = readDeployment(this.deploymentFile);
    await ensureArtifacts(this.buildDir);
    this.provider = makeProvider(this.rpc, BigInt(d.chainId));
    this.registry = new Contract(d.addresses.registry, loadArtifact('NodeRegistry', this.buildDir).abi, this.provider);
    this.nextBlock = d.block;
    return this.registry;
  }
}
