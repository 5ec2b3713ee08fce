import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every file a node's home names by a hash (checkpoints, gradients) holds exactly those bytes: nothing half-written. */
export function assertHashNamedFilesIntact(home: string): void {
  for (const dir of ['checkpoints', 'gradients']) {
    const path = join(home, 'diloco', dir);
    if (!existsSync(path)) continue;
    for (const f of readdirSync(path)) {
      const m = /^([0-9a-f]{64})\.safetensors$/.exec(f);
      if (!m) continue;
      const sha = createHash('sha256')
        .update(readFileSync(join(path, f)))
        .digest('hex');
      assert.equal(sha, m[1], `${join(path, f)} holds what its name says`);
    }
  }
}
