// The one percentile every bench reports with: the nearest rank at or below p (p50 of an
// even count is the upper middle value).
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const median = (xs: readonly number[]) => percentile(xs, 50);

/**
 * The middle of a few values, averaging the two middle ones of an even count: with the two
 * rounds of `make bench`, the nearest-rank median above would be the larger one, the max.
 */
export function midMedian(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
