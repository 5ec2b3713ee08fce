import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../storage/cid.js';
import { wholeBlobManifest } from '../storage/manifest.js';
import { labelOf } from './labels.js';
import { type Probe, type ProbeKit, SHA } from './probe-kit.js';

/** Blobs nothing places on the target (free hosting, disk filling): these need no rounds. */
export function placementProbes({ ctx, member, st, fresh }: ProbeKit): Probe[] {
  return [
    {
      name: 'member pushes a blob nothing places here',
      group: 'placement',
      expect: ['not_placed'],
      run: async (t) => {
        const data = randomBytes(64 * 1024);
        return labelOf(await member(t).putBlob({ data, sha256: sha256Hex(data), size: data.length }));
      },
    },
    {
      name: 'member pushes a shard under a manifest the target does not hold',
      group: 'placement',
      expect: ['not_placed'],
      run: async (t) => {
        const data = randomBytes(64 * 1024);
        const placement = { purpose: 'shard' as const, manifestId: SHA(`no such manifest ${Math.random()}`) };
        return labelOf(await member(t).putBlob({ data, sha256: sha256Hex(data), size: data.length }, placement));
      },
    },
    {
      name: 'member pushes a shard its own manifest does not list',
      group: 'placement',
      expect: ['not_placed'],
      run: async (t) => {
        const listed = randomBytes(64 * 1024);
        const m = wholeBlobManifest(listed, ctx.key, [t]);
        await member(t).putBlob({ data: m.bytes, sha256: m.id, size: m.bytes.length }, { purpose: 'manifest' });
        const other = randomBytes(64 * 1024);
        return labelOf(
          await member(t).putBlob({ data: other, sha256: sha256Hex(other), size: other.length }, { purpose: 'shard', manifestId: m.id }),
        );
      },
    },
    {
      name: 'member pushes a manifest signed by a throwaway key',
      group: 'placement',
      expect: ['bad_manifest'],
      run: async (t) => {
        const m = wholeBlobManifest(randomBytes(1024), fresh(), [t]);
        return labelOf(await member(t).putBlob({ data: m.bytes, sha256: m.id, size: m.bytes.length }, { purpose: 'manifest' }));
      },
    },
    {
      name: 'member pushes a gradient for a round the target does not lead',
      group: 'placement',
      expect: ['not_placed'],
      run: async (t) => {
        const data = randomBytes(64 * 1024);
        const round = (Number.isSafeInteger(st().round) ? st().round : 0) + 5; // a round nobody leads yet
        return labelOf(await member(t).putBlob({ data, sha256: sha256Hex(data), size: data.length }, { purpose: 'gradient', round }));
      },
    },
  ];
}
