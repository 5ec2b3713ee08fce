/**
 * Daemon start-up time to /readyz and the RSS of an idle daemon, beside the cost of starting a bare `node`
 * process measured in the same run (the reference: what Node itself costs on this machine).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startDaemon, tempHome } from '../helpers/daemon.js';

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

export async function run(): Promise<void> {
  const bare: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    bare.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const first: number[] = [];
  const restart: number[] = [];
  let rss = 0;
  for (let i = 0; i < 3; i++) {
    const home = tempHome();
    let t = Date.now();
    let d = await startDaemon({ home });
    first.push(Date.now() - t); // includes wallet creation (scrypt) and the SSD test
    await d.stop();
    t = Date.now();
    d = await startDaemon({ home });
    restart.push(Date.now() - t);
    await new Promise((r) => setTimeout(r, 2000));
    rss = Math.max(rss, rssMiB(d.proc.pid as number));
    await d.stop();
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  console.log(`bare node start           ${med(bare).toFixed(0)} ms (reference)`);
  console.log(
    `first start to /readyz    ${med(first).toFixed(0)} ms  (${(med(first) / med(bare)).toFixed(1)}x bare node; new wallet + SSD test)`,
  );
  console.log(`restart to /readyz        ${med(restart).toFixed(0)} ms  (${(med(restart) / med(bare)).toFixed(1)}x bare node)`);
  console.log(`idle daemon RSS           ${rss.toFixed(1)} MiB`);
}
