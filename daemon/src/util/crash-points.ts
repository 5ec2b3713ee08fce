import { existsSync, writeFileSync } from 'node:fs';

/**
 * A test hook for crash-safety tests: with MAGNET_CRASH_AT="<name>@<marker file>", the process kills itself with
 * SIGKILL (nothing flushed, nothing cleaned up) when it reaches the point `name`, once: the marker file records that
 * it happened, so the restarted process runs on. Unset (always, outside those tests), it does nothing.
 */
export function crashPoint(name: string, env: NodeJS.ProcessEnv = process.env): void {
  const spec = env['MAGNET_CRASH_AT'];
  if (!spec) return;
  const i = spec.indexOf('@');
  const at = i < 0 ? spec : spec.slice(0, i);
  const marker = i < 0 ? '' : spec.slice(i + 1);
  if (at !== name || (marker && existsSync(marker))) return;
  if (marker) writeFileSync(marker, `${name} ${new Date().toISOString()}\n`);
  process.kill(process.pid, 'SIGKILL');
}
