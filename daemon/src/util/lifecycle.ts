/** A long-lived part of the node. Both methods are idempotent. */
export interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts parts in order; when one fails, stops the ones already started (in reverse) and rethrows.
 */
export async function startAll(parts: ReadonlyArray<{ name: string; part: Startable }>): Promise<void> {
  const started: Startable[] = [];
  try {
    for (const { part } of parts) {
      await part.start();
      started.push(part);
    }
  } catch (err) {
    for (const part of started.reverse()) {
      await part.stop().catch(() => undefined);
    }
    throw err;
  }
}

/** Stops parts in reverse order; keeps going when one fails and reports the first failure. */
export async function stopAll(parts: ReadonlyArray<{ name: string; part: Startable }>): Promise<void> {
  let first: unknown;
  for (const { part } of [...parts].reverse()) {
    try {
      await part.stop();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}
