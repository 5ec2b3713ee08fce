import { bool, int } from '../config/schema.js';

/** The `research` config group: this node's part in autoresearch (running trials for others, leading a plan). */
export const researchOptions = {
  acceptTrials: bool(true, 'Run research trials that members offer (trainer nodes only)', { env: 'MAGNET_RESEARCH_ACCEPT' }),
  maxTrialSteps: int(20_000, 'Largest trial (optimizer steps) this node runs for a research node', {
    env: 'MAGNET_RESEARCH_MAX_STEPS',
    min: 1,
    max: 1_000_000,
  }),
  maxTrialParams: int(100_000_000, 'Largest model (parameters, about) this node trains for a research node', {
    env: 'MAGNET_RESEARCH_MAX_PARAMS',
    min: 1,
    max: 1_000_000_000_000,
  }),
  maxTrialTokens: int(
    50_000_000,
    'Most tokens one trial this node runs for a research node may train on (steps x batch x grad_accum x context)',
    {
      env: 'MAGNET_RESEARCH_MAX_TOKENS',
      min: 1,
      max: Number.MAX_SAFE_INTEGER,
    },
  ),
  maxTrialSeconds: int(7200, 'A trial run for a research node is cut after this long', {
    env: 'MAGNET_RESEARCH_MAX_SECONDS',
    min: 1,
    max: 7 * 86_400,
  }),
  tickSeconds: int(2, 'How often a running research plan assigns trials, checks deadlines and closes phases', { min: 1, max: 600 }),
  trialThreads: int(0, 'Torch CPU threads for a trial (0 = torch default)', { env: 'MAGNET_RESEARCH_THREADS', min: 0, max: 1024 }),
};
