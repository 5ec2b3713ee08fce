import { ConfigError } from '../util/errors.js';

/**
 * The NVIDIA GPUs the trainer may use: those nvidia-smi lists, fewer when CUDA_VISIBLE_DEVICES names fewer (an empty
 * value hides them all; CUDA stops at the first invalid entry, "-1" included).
 */
export function usableGpus(listed: number, env: NodeJS.ProcessEnv = process.env): number {
  const visible = env['CUDA_VISIBLE_DEVICES'];
  if (visible === undefined) return listed;
  const entries = visible.split(',').map((s) => s.trim());
  const valid = entries.findIndex((s) => s === '' || s.startsWith('-'));
  return Math.min(listed, valid < 0 ? entries.length : valid);
}

/**
 * How many data-parallel trainer processes (`train --devices N`, one per GPU) this node trains with. `configured`
 * is diloco.devices: 0 takes every usable GPU (the largest count that divides the batch, since each device takes
 * batch / N sequences of every step), 1 one device, N > 1 exactly N GPUs, refused when the node has fewer or the
 * batch does not split evenly.
 */
export function trainDevices(configured: number, gpus: number, batch: number): number {
  if (configured === 0) {
    let n = Math.max(1, gpus);
    while (batch % n !== 0) n--;
    return n;
  }
  if (configured > 1 && configured > gpus)
    throw new ConfigError(
      `diloco.devices: ${configured} data-parallel devices, but this node has ${gpus} usable NVIDIA GPU(s) (nvidia-smi, CUDA_VISIBLE_DEVICES); use 0 (every GPU) or a number up to ${Math.max(1, gpus)}`,
      { key: 'diloco.devices' },
    );
  if (batch % configured !== 0)
    throw new ConfigError(
      `diloco.devices: ${configured} devices do not split diloco.batch ${batch} evenly (each device takes batch / devices sequences of every step)`,
      { key: 'diloco.devices' },
    );
  return configured;
}
