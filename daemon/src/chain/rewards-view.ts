import { formatEther } from 'ethers';

/** What `/chain/rewards` answers (amounts in wei, as decimal strings). */
export interface RewardsView {
  configured: boolean;
  address: string;
  owed: string | null;
  /** Credited by Merkle settlements and not withdrawn yet (withdrawn by proof). */
  owedByProof?: string | null;
  tokenBalance: string | null;
  claims: { epoch: string; round: number; state: string; reward: string | null; estimate: string | null }[];
}

const mag = (x: string | null) => (x === null ? '-' : `${formatEther(BigInt(x))} MAG`);

/** The lines `magnet-node rewards` prints (the testnet prints them per node too). */
export function formatRewards(r: RewardsView): string[] {
  const lines = [
    r.configured
      ? `${r.address}: owed ${mag(r.owed)} by the claim loop and ${mag(r.owedByProof ?? '0')} by Merkle settlements (withdraw with \`magnet-node chain withdraw\`), balance ${mag(r.tokenBalance)}`
      : 'chain not configured: claims wait in the queue',
  ];
  for (const c of r.claims) {
    const amount = c.reward !== null ? `reward ${mag(c.reward)}` : c.estimate !== null ? `estimate ${mag(c.estimate)}` : '';
    lines.push(`epoch ${c.epoch.padStart(8)}  round ${String(c.round).padStart(5)}  ${c.state.padEnd(9)}  ${amount}`);
  }
  const paid = r.claims.filter((c) => c.reward !== null);
  const settled = paid.reduce((s, c) => s + BigInt(c.reward!), 0n);
  lines.push(`settled rewards: ${formatEther(settled)} MAG over ${paid.length} claims`);
  return lines;
}
