import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One line on what the testnet's attacker tried and how its message-level attacks were answered. */
export function adversarySummary(home: string | undefined): string {
  const file = home ? join(home, 'adversary.jsonl') : '';
  if (!home || !existsSync(file))
    return 'adversary: no message-level attacks in its report (its kind attacks as a leader, a follower or a shard holder: see its daemon.log)';
  const lines = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as { probe: string; ok?: boolean; got?: string; counts?: Record<string, number> });
  const probes = lines.filter((l) => l.ok !== undefined);
  const refused = probes.filter((l) => l.ok).length;
  const wrong = probes.filter((l) => !l.ok).map((l) => `${l.probe} (${l.got})`);
  return `adversary: ${refused}/${probes.length} message-level attacks answered as expected${wrong.length ? `; unexpected: ${wrong.join('; ')}` : ''} (report ${file})`;
}
