import { describe, expect, it } from 'vitest';
import { parsePortRange } from '../../src/util/port-range.js';

describe('parsePortRange', () => {
  it('reads MIN-MAX, one port included', () => {
    expect(parsePortRange('61000-65535', '--x')).toEqual({ min: 61000, max: 65535 });
    expect(parsePortRange(' 7-7 ', '--x')).toEqual({ min: 7, max: 7 });
  });

  it.each(['', '61000', '0-10', '10-9', '1-65536', 'a-b', '1-2-3'])('rejects %j naming the flag', (bad) => {
    expect(() => parsePortRange(bad, '--snat-port-range')).toThrow(/^--snat-port-range: want MIN-MAX/);
  });
});
