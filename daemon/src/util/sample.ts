/** Up to `k` items of `xs` picked uniformly at random, without repeats (a partial Fisher-Yates shuffle of a copy). */
export function sample<T>(xs: readonly T[], k: number): T[] {
  const a = [...xs];
  const n = Math.min(k, a.length);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a.slice(0, n);
}
