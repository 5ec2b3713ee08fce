import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bool, choice, int, num, str } from '../config/schema.js';
import { REPO_ROOT } from '../version.js';

/**
 * The hyperparameter defaults the trainer CLI shares (batch, seq, innerLr, warmup, outerLr, momentum):
 * config/trainer-defaults.json is their one source, read here and by python/magnet_trainer/defaults.py, so
 * `python -m magnet_trainer train` without flags trains as a node with the default config does. (The round still
 * passes every value, so a node's own config decides.)
 */
export const TRAINER_DEFAULTS = JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'trainer-defaults.json'), 'utf8')) as {
  batch: number;
  seq: number;
  innerLr: number;
  warmup: number;
  outerLr: number;
  momentum: number;
};

export const dilocoOptions = {
  enabled: bool(true, 'Take part in DiLoCo rounds when this node has the trainer role', { env: 'MAGNET_DILOCO' }),
  preset: choice('tiny', ['tiny', 'small', 'genkidama'], 'Model preset of the round-0 checkpoint (every node must agree)', {
    env: 'MAGNET_PRESET',
  }),
  modelShape: str(
    '',
    "The preset's shape changed key by key, e.g. 'dim=512,n_layers=2' (dim, n_layers, n_heads, n_kv_heads, ffn_dim, context): a research winner's model (every node must agree)",
    {
      env: 'MAGNET_MODEL_SHAPE',
      check: (v) =>
        v === '' ||
        /^(dim|n_layers|n_heads|n_kv_heads|ffn_dim|context)=[1-9][0-9]{0,5}(,(dim|n_layers|n_heads|n_kv_heads|ffn_dim|context)=[1-9][0-9]{0,5})*$/.test(
          v,
        )
          ? undefined
          : 'KEY=VALUE pairs, comma-separated, KEY one of dim, n_layers, n_heads, n_kv_heads, ffn_dim, context and VALUE a positive integer',
    },
  ),
  seed: int(0, 'Seed of the round-0 checkpoint and of the data order (every node must agree)', { env: 'MAGNET_SEED' }),
  data: str(
    'stdlib',
    "Training data: a text file, a directory, a uint16 token file (.bin), 'stdlib' / 'generated', or 'blob:<manifest id>' (text in the network's storage, fetched before the rounds start)",
    {
      env: 'MAGNET_DATA',
      check: (v) => (v.startsWith('blob:') && !/^blob:[0-9a-f]{64}$/.test(v) ? "'blob:' and a manifest id (64 lowercase hex)" : undefined),
    },
  ),
  genesisSha256: str('', 'SHA-256 the round-0 checkpoint made here must have (set by a network spec; empty: not checked)', {
    check: (v) => (v === '' || /^[0-9a-f]{64}$/.test(v) ? undefined : '64 lowercase hex digits, or empty'),
  }),
  dataAssignment: choice(
    'hash',
    ['hash', 'members'],
    "How nodes share the data: 'hash' (a node reads the slice its nodeId hashes to among dataSlices), 'members' (the member at position i of membership.members reads slice i of as many: disjoint)",
  ),
  dataSlices: int(64, "Data slices with dataAssignment 'hash'", { min: 1, max: 65_536 }),
  innerSteps: int(100, 'Inner steps H per round', { min: 1, max: 1_000_000, env: 'MAGNET_INNER_STEPS' }),
  batch: int(TRAINER_DEFAULTS.batch, 'Sequences per inner step', { min: 1, max: 4096 }),
  seq: int(TRAINER_DEFAULTS.seq, 'Tokens per sequence', { min: 8, max: 8192 }),
  innerLr: num(TRAINER_DEFAULTS.innerLr, 'Inner AdamW learning rate', { min: 0, max: 1 }),
  warmup: int(TRAINER_DEFAULTS.warmup, 'Inner learning-rate warmup steps (over all rounds)', { min: 0 }),
  outerLr: num(TRAINER_DEFAULTS.outerLr, 'Outer Nesterov learning rate', { min: 0, max: 10 }),
  momentum: num(TRAINER_DEFAULTS.momentum, 'Outer Nesterov momentum', { min: 0, max: 1 }),
  compression: choice(
    'int8',
    ['none', 'fp16', 'int8', 'topk2'],
    'Pseudo-gradient compression, the residual fed back into the next round (int8: per block with a float scale, a quarter of the bytes of none; topk2: the largest diloco.topkDensity of each 4096 values, 2 bits each, about 1/27 of int8)',
    { env: 'MAGNET_COMPRESSION' },
  ),
  schedule: choice(
    'plain',
    ['plain', 'delayed'],
    "'delayed': train the next round's steps from this node's own weights while its gradient is in flight, then move that progress onto the merged model (one-step-delayed outer update: training does not wait for the network); 'plain': every round trains from the merged model",
    { env: 'MAGNET_DILOCO_SCHEDULE' },
  ),
  topkDensity: num(
    1 / 64,
    "Share of each chunk's values a topk2 pseudo-gradient sends (this node's choice: a receiver reads it from the file)",
    {
      min: 1 / 4096,
      max: 1,
    },
  ),
  storeGradients: bool(
    false,
    "Also store each pseudo-gradient erasure-coded in the network's storage (storage.gradientReplicas copies). Off: it goes to the round's leader only and stays on this node's disk until its round is settled (a new leader after failover gets it from here)",
    { env: 'MAGNET_STORE_GRADIENTS' },
  ),
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
  catchUpFanout: int(
    4,
    'Members a node that is behind asks at once where the network is (a fresh random sample each probe; what they answer is checked anyway)',
    { min: 1, max: 1024 },
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
  devices: int(
    0,
    'Data-parallel training processes, one per NVIDIA GPU, each taking batch / devices sequences of every step (torchrun, NCCL): 0 = every usable GPU of the hardware profile, 1 = one device',
    { min: 0, max: 256, env: 'MAGNET_DEVICES' },
  ),
  python: str('', "Python interpreter that runs the trainer (python -m magnet_trainer); empty: the repository's .venv", {
    env: 'MAGNET_PYTHON',
  }),
  persistentTrainer: bool(true, 'Keep two trainer processes running (training, and the rest) instead of one Python start per job', {
    env: 'MAGNET_PERSISTENT_TRAINER',
  }),
  trainerIdleSec: int(
    120,
    'A kept trainer process idle this long exits (the next job starts another); 0 keeps it. A node that trains seldom or never holds no Python',
    { env: 'MAGNET_TRAINER_IDLE', min: 0, max: 86_400 },
  ),
};
