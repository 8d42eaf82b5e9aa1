// loadDataplane against what an older version left pinned.
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as abi from '../../../src/backends/ebpf/abi.js';
import { libbpf } from '../../../src/backends/ebpf/libbpf.js';
import { loadDataplane } from '../../../src/backends/ebpf/loader.js';
import { describeKernel } from '../../kernel-required.js';
import { OBJECT_DIR, buildMissingReason, newPinRoot } from './fixtures.js';

const BPF_MAP_TYPE_PERCPU_ARRAY = 6;

describeKernel('loadDataplane', () => {
  describe('dp_stats pinned with another number of counters (16 before IPv6 and XDP)', () => {
    it('is replaced, said through the log, and the new map has this version size', async () => {
      const missing = buildMissingReason();
      if (missing) throw new Error(missing);
      const pinRoot = newPinRoot();
      mkdirSync(pinRoot, { recursive: true });
      const old = libbpf.mapCreate({ type: BPF_MAP_TYPE_PERCPU_ARRAY, name: 'dp_stats', keySize: 4, valueSize: 8, maxEntries: 16 });
      const logged: string[] = [];
      try {
        libbpf.pin(old, path.join(pinRoot, 'dp_stats'));
        const oldId = libbpf.mapInfo(old).id;
        const dp = await loadDataplane({ pinRoot, objectDir: OBJECT_DIR, log: (m) => logged.push(m) });
        try {
          const now = libbpf.mapInfo(dp.maps.statsFd);
          expect(now.maxEntries).toBe(abi.STATS_MAX);
          expect(now.id).not.toBe(oldId);
          expect(logged).toEqual([`dp_stats was pinned with 16 counters, this version has ${abi.STATS_MAX}: replaced (counters restart from zero)`]);
        } finally {
          dp.close();
        }
        // A second load adopts the map it pinned: nothing to replace.
        const again = await loadDataplane({ pinRoot, objectDir: OBJECT_DIR, log: (m) => logged.push(m) });
        again.close();
        expect(logged).toHaveLength(1);
      } finally {
        libbpf.closeFd(old);
        rmSync(pinRoot, { recursive: true, force: true });
      }
    });
  });
});
