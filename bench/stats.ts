// The one percentile every bench reports with: the nearest rank at or below p (p50 of an
// even count is the upper middle value).
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const median = (xs: readonly number[]) => percentile(xs, 50);
