import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/util/duration.js';

describe('parseDuration', () => {
  it('reads Go-style durations', () => {
    expect(parseDuration('500ms', 'f')).toBe(500);
    expect(parseDuration('1s', 'f')).toBe(1000);
    expect(parseDuration('1m30s', 'f')).toBe(90_000);
    expect(parseDuration('0', 'f')).toBe(0);
  });
  it('names the flag on bad input', () => {
    expect(() => parseDuration('10', '--sync-period')).toThrow('--sync-period: invalid duration "10"');
    expect(() => parseDuration('1x', '--sync-period')).toThrow(/--sync-period/);
  });
});
