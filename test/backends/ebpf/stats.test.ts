import { describe, expect, it } from 'vitest';
import { formatDatapathStats, possibleCpus } from '../../../src/backends/ebpf/stats.js';

describe('dp_stats reader', () => {
  it('counts the possible CPUs from the kernel list format', () => {
    expect(possibleCpus('0\n')).toBe(1);
    expect(possibleCpus('0-1\n')).toBe(2);
    expect(possibleCpus('0-3,8-11,16')).toBe(9);
  });

  it('inspect --stats prints packets, then drops, one counter per line', () => {
    expect(formatDatapathStats({ packets: { new: 2, reply: 9 }, drops: { no_backend: 1 } })).toBe(
      [
        'Datapath packets (tc_lb and xdp_lb, all CPUs, since the maps were created)',
        '  new                    2',
        '  reply                  9',
        'Drops by reason',
        '  no_backend             1',
        '',
      ].join('\n'),
    );
  });
});
