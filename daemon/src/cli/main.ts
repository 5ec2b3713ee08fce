#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// V8 doubles its young generation under allocation bursts up to two 16 MiB semi-spaces, and loading this program is
// such a burst: a daemon then keeps ~32 MiB resident for a heap that idles at a few hundred KiB of young objects.
// Growth factor 1 keeps the young generation at its initial size (the flag is read each time it would grow, so it
// holds when set here, before the program loads). The heavy data (shards, gradients, models) lives outside the JS heap.
setFlagsFromString('--semi-space-growth-factor=1');

const { buildProgram } = await import('./program.js');
await buildProgram().parseAsync(process.argv);
