/**
 * What an idle daemon costs: N real daemons on loopback form their mesh (no rounds: DiLoCo off), then each one's CPU
 * (utime + stime from /proc over a window) and resident memory are read, beside a bare Node process that only runs a
 * 1 s timer, measured over the same window (the reference: what any Node daemon costs here). Issue target for an idle
 * daemon: <= 1% of a core and <= 120 MiB.
 *
 * Env: MAGNET_BENCH_NODES (10), MAGNET_BENCH_IDLE_SEC (60), MAGNET_BENCH_MESH_SEC (180: how long after the last start the mesh may take to form).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type RunningDaemon, membersArgs, prepareHomes, residentMemory, startDaemon, testEnv } from '../helpers/daemon.js';

/** CPU seconds (user + system) a process has used: fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 1/100 s. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after "pid (comm) ": field 3 is index 0
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function run(): Promise<void> {
  const n = Number(process.env['MAGNET_BENCH_NODES'] ?? 10);
  const windowSec = Number(process.env['MAGNET_BENCH_IDLE_SEC'] ?? 60);
  const env = testEnv(); // default heartbeat (30 s) and timers: what a node on the internet runs
  const daemons: RunningDaemon[] = [];
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    const homes = await prepareHomes(n);
    const members = membersArgs(homes);
    const first = await startDaemon({ env, home: homes[0]!.home, args: [...members, '--log-level', 'warn'] });
    daemons.push(first);
    const boot = (await first.get<{ listen: { p2p: string[] } }>('/status')).listen.p2p[0]!;
    const t0 = Date.now();
    // Four at a time: starting all at once on 2 cores would time the machine, not the daemons.
    let lastStart = Date.now();
    for (let i = 1; i < n; i += 4) {
      const batch = homes.slice(i, i + 4);
      daemons.push(
        ...(await Promise.all(
          batch.map((h) => startDaemon({ env, home: h.home, args: [...members, '--bootstrap', boot, '--log-level', 'warn'] })),
        )),
      );
      lastStart = Date.now();
    }
    // Poll every daemon's live-peer count, printing the spread, so a mesh that does not form says how far it got.
    const meshLimitSec = Number(process.env['MAGNET_BENCH_MESH_SEC'] ?? 180);
    for (let lastPrint = 0; ;) {
      const live = await Promise.all(
        daemons.map((d) =>
          d.get<{ storage: { holders: { live: number } } }>('/status').then(
            (s) => s.storage.holders.live,
            () => -1,
          ),
        ),
      );
      if (live.every((x) => x === n)) break;
      const sec = (Date.now() - t0) / 1000;
      if (sec - lastPrint >= 15) {
        lastPrint = sec;
        const sorted = [...live].sort((a, b) => a - b);
        console.log(
          `  ${sec.toFixed(0)} s: live peers seen (incl. self) min ${sorted[0]} median ${sorted[sorted.length >> 1]} max ${sorted.at(-1)}`,
        );
      }
      if (Date.now() - lastStart > meshLimitSec * 1000)
        throw new Error(`no full mesh of ${n} within ${meshLimitSec} s of the last start: live counts ${live.join(',')}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const meshSec = (Date.now() - t0) / 1000;
    // Idle means after start-up: a node exchanges peers with every peer every 2 s in its first minute while the
    // network forms (net/peer-contact.ts), so the window opens a minute and a bit after the last daemon started.
    await new Promise((r) => setTimeout(r, Math.max(10_000, lastStart + 65_000 - Date.now())));

    const pids = daemons.map((d) => d.proc.pid!);
    const before = pids.map(cpuSeconds);
    const bareBefore = cpuSeconds(bare.pid!);
    await new Promise((r) => setTimeout(r, windowSec * 1000));
    const cores = pids.map((p, i) => (cpuSeconds(p) - before[i]!) / windowSec);
    const bareCore = (cpuSeconds(bare.pid!) - bareBefore) / windowSec;
    const rss = pids.map((p) => residentMemory(p).rss / 2 ** 20);
    const bareRss = residentMemory(bare.pid!).rss / 2 ** 20;

    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
    console.log(
      `${n} idle daemons on loopback (default settings, no rounds): started in ${((lastStart - t0) / 1000).toFixed(0)} s, full mesh ${meshSec.toFixed(0)} s after the first; over ${windowSec} s:`,
    );
    console.log(
      `  CPU per daemon: mean ${pct(mean(cores))} of a core, max ${pct(Math.max(...cores))}; all together ${pct(cores.reduce((a, b) => a + b, 0))}`,
    );
    console.log(`  RSS per daemon: mean ${mean(rss).toFixed(0)} MiB, max ${Math.max(...rss).toFixed(0)} MiB`);
    console.log(`  bare Node process (a 1 s timer): ${pct(bareCore)} of a core, ${bareRss.toFixed(0)} MiB`);
    console.log(
      `  ratios to the bare process: CPU ${(mean(cores) / Math.max(bareCore, 1e-4)).toFixed(0)}x, RSS ${(mean(rss) / bareRss).toFixed(2)}x; target per daemon <= 1% of a core and <= 120 MiB: ${mean(cores) <= 0.01 ? 'met' : 'missed'} / ${mean(rss) <= 120 ? 'met' : 'missed'}`,
    );
  } finally {
    bare.kill();
    for (const d of daemons) await d.kill();
  }
}
