import { detectHardware, type HardwareInfo } from './hardware.js';
import { runSsdTest, type SsdResult } from './ssd-test.js';

export interface HardwareProfile {
  measuredAt: number;
  hardware: HardwareInfo;
  /** null when the SSD test was switched off (then the node cannot be a storage tier). */
  ssd: SsdResult | null;
}

export interface ProfileOptions {
  dataDir: string;
  ssdTest: boolean;
  ssdBlocks: number;
  ssdQueueDepth: number;
  /** SSD test passes; the median counts. */
  ssdRuns: number;
}

export async function measureProfile(opts: ProfileOptions): Promise<HardwareProfile> {
  const hardware = detectHardware(opts.dataDir);
  const ssd = opts.ssdTest ? await runSsdTest(opts.dataDir, opts.ssdBlocks, opts.ssdQueueDepth, opts.ssdRuns) : null;
  return { measuredAt: Date.now(), hardware, ssd };
}
