import { execFileSync } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { arch, cpus, totalmem } from 'node:os';

export interface GpuInfo {
  name: string;
  memoryGiB: number;
}

export interface HardwareInfo {
  cpuModel: string;
  arch: string;
  cores: number;
  /** SIMD features the kernels care about, as the OS reports them. */
  simd: string[];
  ramGiB: number;
  gpus: GpuInfo[];
  diskFreeGiB: number;
}

const GIB = 1024 ** 3;
const SIMD_FLAGS = ['avx2', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avxvnni', 'fma', 'f16c', 'neon', 'asimd', 'asimddp', 'sve'];

export function detectHardware(dataDir: string): HardwareInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    arch: arch(),
    cores: list.length,
    simd: detectSimd(),
    ramGiB: round2(totalmem() / GIB),
    gpus: detectNvidiaGpus(),
    diskFreeGiB: round2(diskFree(dataDir) / GIB),
  };
}

/** From /proc/cpuinfo "flags" (x86) or "Features" (ARM); empty where there is no /proc. */
export function detectSimd(cpuinfo?: string): string[] {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return [];
    }
  }
  const line = /^(flags|Features)\s*:\s*(.*)$/m.exec(text);
  const have = new Set((line?.[2] ?? '').split(/\s+/));
  const found = SIMD_FLAGS.filter((f) => have.has(f));
  // ARM64 always has NEON; the kernel reports it as "asimd".
  if (have.has('asimd') && !found.includes('neon')) found.push('neon');
  return found;
}

/** GPUs through nvidia-smi when it is installed; none otherwise. */
export function detectNvidiaGpus(): GpuInfo[] {
  let out: string;
  try {
    out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return [];
  }
  return parseNvidiaSmi(out);
}

export function parseNvidiaSmi(out: string): GpuInfo[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const [name, mib] = l.split(',').map((s) => s.trim());
      return { name: name ?? 'unknown', memoryGiB: round2(Number(mib) / 1024) };
    })
    .filter((g) => Number.isFinite(g.memoryGiB));
}

function diskFree(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

export const round2 = (x: number): number => Math.round(x * 100) / 100;
