import { bool, choice, int, num, str } from '../config/schema.js';

export const dilocoOptions = {
  enabled: bool(true, 'Take part in DiLoCo rounds when this node has the trainer role', { env: 'MAGNET_DILOCO' }),
  preset: choice('tiny', ['tiny', 'small', 'genkidama'], 'Model preset of the round-0 checkpoint (every node must agree)', {
    env: 'MAGNET_PRESET',
  }),
  seed: int(0, 'Seed of the round-0 checkpoint and of the data order (every node must agree)', { env: 'MAGNET_SEED' }),
  data: str('stdlib', "Training data: text file, directory, uint16 token file, or 'stdlib' / 'generated'", { env: 'MAGNET_DATA' }),
  innerSteps: int(100, 'Inner steps H per round', { min: 1, max: 1_000_000, env: 'MAGNET_INNER_STEPS' }),
  batch: int(8, 'Sequences per inner step', { min: 1, max: 4096 }),
  seq: int(128, 'Tokens per sequence', { min: 8, max: 8192 }),
  innerLr: num(4e-4, 'Inner AdamW learning rate', { min: 0, max: 1 }),
  warmup: int(100, 'Inner learning-rate warmup steps (over all rounds)', { min: 0 }),
  outerLr: num(0.7, 'Outer Nesterov learning rate', { min: 0, max: 10 }),
  momentum: num(0.9, 'Outer Nesterov momentum', { min: 0, max: 1 }),
  compression: choice('none', ['none', 'fp16', 'int8'], 'Pseudo-gradient compression', { env: 'MAGNET_COMPRESSION' }),
  roundTimeoutSec: int(
    900,
    "Seconds from announcement to the round deadline; followers cap the leader's deadline at this on their own clock",
    {
      min: 5,
      env: 'MAGNET_ROUND_TIMEOUT',
    },
  ),
  quorum: num(0.5, 'Fraction of the trainers that accepted the round whose gradients a merge at the deadline needs', { min: 0, max: 1 }),
  announceGraceSec: int(
    30,
    'Seconds a node waits for progress (an announcement after the last round, a certified outcome after the deadline) before it gives up on the leader',
    {
      min: 1,
      env: 'MAGNET_ANNOUNCE_GRACE',
    },
  ),
  startDelaySec: int(5, 'Seconds to wait for peers before the first round', { min: 0 }),
  maxRounds: int(0, 'Stop after this many merged rounds (0 = run forever)', { min: 0, env: 'MAGNET_MAX_ROUNDS' }),
  maxGradNorm: num(1e6, 'Refuse pseudo-gradients whose L2 norm exceeds this', { min: 0 }),
  verifyLossTolerance: num(
    0.5,
    "How much worse (nats of held-out loss) than the base a sender's local model may be before its gradient is refused",
    { min: 0 },
  ),
  verifyWindows: int(4, 'Held-out windows (drawn at random after submission) scored to spot-check a gradient or a merge', {
    min: 1,
    max: 1024,
  }),
  voteQuorum: num(
    2 / 3,
    "Fraction of the network's members whose votes certify a round's outcome (2/3 keeps one faulty member in four from forking the network)",
    {
      min: 0.5,
      max: 1,
      env: 'MAGNET_VOTE_QUORUM',
    },
  ),
  outlierRatio: num(
    10,
    "Refuse a gradient whose norm exceeds this many times the median of the round's other accepted gradients (0 = off)",
    {
      min: 0,
    },
  ),
  threads: int(0, 'Torch CPU threads for the trainer (0 = torch default)', { min: 0, max: 1024 }),
  persistentTrainer: bool(true, 'Keep two trainer processes running (training, and the rest) instead of one Python start per job', {
    env: 'MAGNET_PERSISTENT_TRAINER',
  }),
};
