// "MIN-MAX" port ranges from flags (e.g. --snat-port-range 61000-65535).

export interface PortRange {
  /** First port, inclusive. */
  min: number;
  /** Last port, inclusive. */
  max: number;
}

/** Parses "MIN-MAX" (1 ≤ MIN ≤ MAX ≤ 65535); the error names the flag and the value. */
export function parsePortRange(text: string, flag: string): PortRange {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  const min = m ? Number(m[1]) : NaN;
  const max = m ? Number(m[2]) : NaN;
  if (!m || min < 1 || max > 65535 || min > max) {
    throw new Error(`${flag}: want MIN-MAX with 1 <= MIN <= MAX <= 65535, got ${JSON.stringify(text)}`);
  }
  return { min, max };
}
