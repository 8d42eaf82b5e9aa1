// --lb-algorithm, --maglev-table-size, --maglev-seed as CliOptions (the built CLI's refusals are in cli.test.ts).
import { describe, expect, it } from 'vitest';
import { lbOptions, optionsFrom, parseArgv } from '../../src/cli/options.js';

const opts = (...argv: string[]) => optionsFrom(parseArgv(['run', '--manifests', '/nonexistent', ...argv]).values).opts;

describe('load-balancing flags', () => {
  it('default: random, M = 16381, the documented seed', () => {
    expect(opts().backendConfig.lb).toEqual({ algorithm: 'random', tableSize: 16381, seed: 'bpfproxy' });
  });

  it('maglev with its own size and seed', () => {
    expect(opts('--lb-algorithm=maglev', '--maglev-table-size', '65521', '--maglev-seed', 'cluster-7').backendConfig.lb).toEqual({ algorithm: 'maglev', tableSize: 65521, seed: 'cluster-7' });
  });

  it('refuses what is not an algorithm, not a prime in range, or an empty seed, naming the flag', () => {
    expect(() => lbOptions({ algorithm: 'Maglev', tableSize: '16381', seed: 'x' })).toThrow('--lb-algorithm: want random or maglev, got "Maglev"');
    expect(() => lbOptions({ algorithm: 'maglev', tableSize: '65536', seed: 'x' })).toThrow('--maglev-table-size: 65536 is not prime');
    expect(() => lbOptions({ algorithm: 'maglev', tableSize: '241', seed: 'x' })).toThrow('--maglev-table-size: want a prime from 251 to 131071, got 241');
    expect(() => lbOptions({ algorithm: 'maglev', tableSize: '-251', seed: 'x' })).toThrow('got "-251"');
    expect(() => lbOptions({ algorithm: 'maglev', tableSize: '16381', seed: '' })).toThrow('--maglev-seed: must not be empty');
  });
});
