// Go-style durations as kube-proxy's flags take them: 500ms, 1s, 1m30s, 2h.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (text === '0') return 0;
  if (pos !== text.length || pos === 0) throw new Error(`${flag}: invalid duration ${JSON.stringify(text)} (e.g. 500ms, 1s, 1m30s)`);
  return total;
}
