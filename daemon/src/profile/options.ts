import { bool, int } from '../config/schema.js';

export const profileOptions = {
  ssdTest: bool(true, 'Run the 4 KiB random read/write SSD test at start (off: the node cannot take a storage tier)', {
    env: 'MAGNET_SSD_TEST',
    flag: '--no-ssd-test',
  }),
  ssdBlocks: int(1000, 'Number of 4 KiB blocks read and written by the SSD test', { min: 16, max: 1_000_000 }),
  ssdQueueDepth: int(4, 'SSD test requests in flight (4 KiB random I/O at this queue depth)', { min: 1, max: 64 }),
  ssdRuns: int(3, 'SSD test passes over one scratch file; the median read and write rates count', {
    env: 'MAGNET_SSD_RUNS',
    min: 1,
    max: 15,
  }),
  researchAgent: bool(false, 'Declare that this node runs research orchestration (claude_session tier when the hardware allows)', {
    env: 'MAGNET_RESEARCH_AGENT',
  }),
  cpuTraining: bool(false, 'Let CPU tiers take the trainer role (small models, local testnets)', { env: 'MAGNET_CPU_TRAINING' }),
};
