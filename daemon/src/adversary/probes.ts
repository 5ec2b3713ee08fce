import { appendFileSync } from 'node:fs';
import { labelOf } from './labels.js';
import { memberProbes, strangerProbes } from './message-probes.js';
import { researchProbes } from './research-probes.js';
import { placementProbes } from './placement-probes.js';
import { type Probe, type ProbeContext, probeKit } from './probe-kit.js';

/**
 * Message-level attacks, one of each kind, against every honest member: what a stranger's key may not do, and what
 * a member may not do out of turn or out of shape. Each is sent through the project's own client with the honest
 * checks bypassed (its own signatures, fields the honest code would never fill so); the answer's refusal label is
 * compared with the expected one and written to the report. The placement probes (blobs nothing places on the
 * target) run alone with `only: 'placement'`.
 */
export async function runProbes(ctx: ProbeContext): Promise<{ ok: number; failed: number }> {
  const targets = ctx.net
    .peers()
    .filter((p) => p.member && p.nodeId !== ctx.me)
    .map((p) => p.nodeId);
  let ok = 0;
  let failed = 0;
  for (const p of probes(ctx).filter((x) => !ctx.only || x.group === ctx.only)) {
    // The round-leader probes need a target that is not the leader; the others go to the first member.
    const target = p.name.startsWith('gradient to the leader')
      ? (ctx.round().leader ?? targets[0])
      : (ctx.target ?? targets.find((t) => t !== ctx.round().leader) ?? targets[0]);
    if (!target || target === ctx.me) continue;
    let got: string;
    try {
      got = await p.run(target);
    } catch (err) {
      got = labelOf(err);
    }
    const good = p.expect.includes(got);
    if (good) ok++;
    else failed++;
    const line = { probe: p.name, target, expected: p.expect, got, ok: good };
    ctx.log.warn(line, `adversary probe: ${p.name} -> ${got}`);
    if (ctx.report) appendFileSync(ctx.report, `${JSON.stringify(line)}\n`);
  }
  return { ok, failed };
}

/** Every probe, in report order: the stranger's, the member's, the placement ones, then the research ones. */
function probes(ctx: ProbeContext): Probe[] {
  const kit = probeKit(ctx);
  return [...strangerProbes(kit), ...memberProbes(kit), ...placementProbes(kit), ...researchProbes(kit)];
}
