/**
 * A hedged request: runs `attempts` in order, each next one as soon as an earlier one fails or `hedgeMs` after the
 * last one started, whichever comes first, and resolves with the first success. Attempts already running go on; a
 * success that comes after the winner is handed to `late` (to delete what it wrote). Rejects with the last error
 * once every attempt failed. The cheap source goes first, and a slow or gone one costs at most `hedgeMs`, not a
 * whole timeout.
 */
export function hedged<T>(attempts: (() => Promise<T>)[], hedgeMs: number, late?: (value: T) => void): Promise<T> {
  if (attempts.length === 0) return Promise.reject(new Error('hedged: no attempt to make'));
  return new Promise<T>((resolve, reject) => {
    let started = 0;
    let failed = 0;
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const launch = (): void => {
      clearTimeout(timer);
      if (settled || started >= attempts.length) return;
      const attempt = attempts[started++] as () => Promise<T>;
      if (started < attempts.length) timer = setTimeout(launch, hedgeMs);
      attempt().then(
        (value) => {
          if (settled) return late?.(value);
          settled = true;
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          if (settled) return;
          if (++failed === attempts.length) {
            settled = true;
            reject(err);
          } else launch();
        },
      );
    };
    launch();
  });
}
