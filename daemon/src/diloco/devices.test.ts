import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isMagnetError } from '../util/errors.js';
import { trainDevices, usableGpus } from './devices.js';

test('diloco.devices 0 trains on every usable GPU, as many as split the batch evenly; 1 on one device', () => {
  assert.equal(trainDevices(0, 0, 8), 1, 'no GPU: one process (CPU or the one device torch picks)');
  assert.equal(trainDevices(0, 1, 8), 1);
  assert.equal(trainDevices(0, 4, 8), 4);
  assert.equal(trainDevices(0, 8, 8), 8);
  assert.equal(trainDevices(0, 3, 8), 2, 'three GPUs and a batch of 8: two of them take 4 sequences each');
  assert.equal(trainDevices(0, 16, 8), 8, 'more GPUs than sequences: one sequence each');
  assert.equal(trainDevices(1, 4, 8), 1);
  assert.equal(trainDevices(1, 0, 7), 1);
  assert.equal(trainDevices(2, 4, 8), 2);
});

test('an explicit diloco.devices beyond the usable GPUs, or one that does not split the batch, stops the start by name', () => {
  const refused = (configured: number, gpus: number, batch: number, says: RegExp) =>
    assert.throws(
      () => trainDevices(configured, gpus, batch),
      (err: unknown) => isMagnetError(err, 'ERR_CONFIG') && err.data['key'] === 'diloco.devices' && says.test(err.message),
    );
  refused(2, 0, 8, /2 data-parallel devices, but this node has 0 usable NVIDIA GPU/);
  refused(4, 2, 8, /this node has 2 usable NVIDIA GPU.*up to 2/);
  refused(3, 4, 8, /3 devices do not split diloco.batch 8 evenly/);
});

test('the usable GPUs: those nvidia-smi lists, fewer when CUDA_VISIBLE_DEVICES hides some', () => {
  assert.equal(usableGpus(4, {}), 4);
  assert.equal(usableGpus(4, { CUDA_VISIBLE_DEVICES: '0,2' }), 2);
  assert.equal(usableGpus(4, { CUDA_VISIBLE_DEVICES: '' }), 0, 'empty: no GPU');
  assert.equal(usableGpus(4, { CUDA_VISIBLE_DEVICES: '1,-1,2' }), 1, 'CUDA stops at the first invalid entry');
  assert.equal(usableGpus(2, { CUDA_VISIBLE_DEVICES: '0,1,2,3' }), 2, 'never more than are installed');
  assert.equal(usableGpus(0, { CUDA_VISIBLE_DEVICES: '0' }), 0);
});
