// `bpfproxy render` prints exactly what a first sync writes: a sync of the feature table
// into an empty namespace writes the same map entries (ebpf) / iptables-restore input
// (iptables) that render() produces without a kernel. ipvs has the same check in the guest
// kernel, the only one with IPVS: test/backends/ipvs/kernel.test.ts ("render = what a first
// sync runs"), which records every tool run of the sync.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EbpfBackend } from '../../src/backends/ebpf/index.js';
import { render, servesLocalhostNodePorts } from '../../src/backends/ebpf/render.js';
import type { MapState } from '../../src/backends/ebpf/state.js';
import { IptablesBackend } from '../../src/backends/iptables/index.js';
import { describeKernel } from '../kernel-required.js';
import { createNetns, deleteNetns, newRunPrefix } from '../harness/netns.js';
import { endpoint, featureTable, servicePort } from '../fixtures/service-table.js';
import { OBJECT_DIR, buildMissingReason } from './ebpf/fixtures.js';

/** Map contents in a stable order, so two states compare entry by entry. */
function sorted(s: MapState) {
  const by = <K, V>(m: Map<K, V>) => [...m.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
  return { services: by(s.services), backends: by(s.backends), revNat: by(s.revNat), meta: by(s.meta), srcRanges: by(s.srcRanges), maglev: by(s.maglev) };
}

describeKernel('render = what a first sync writes', () => {
  const ns = `${newRunPrefix()}-render`;
  beforeAll(() => createNetns(ns));
  afterAll(() => deleteNetns(ns));

  it('ebpf: the maps after a first sync hold exactly render()\'s entries', async () => {
    const missing = buildMissingReason();
    if (missing) throw new Error(missing);
    // Plus a LoadBalancer with source ranges (lb_src_range) and a maglev Service with a
    // NodePort (two frontends, one shared table), which the shared fixture lacks.
    const base = featureTable();
    const lbsr = servicePort({ name: 'lbsr' }, {
      clusterIPs: ['198.19.1.219'], loadBalancerIPs: ['198.19.250.24'], nodePort: 30095, loadBalancerSourceRanges: ['198.19.200.100/32', '198.19.99.0/24'],
      endpoints: [endpoint('198.18.1.61')],
    });
    const mg = servicePort({ name: 'mg' }, {
      clusterIPs: ['198.19.1.220'], nodePort: 30096, lbAlgorithm: 'maglev', endpoints: [endpoint('198.18.1.71'), endpoint('198.18.1.72'), endpoint('198.18.1.73')],
    });
    const table = { ...base, services: new Map([...base.services, [lbsr.key, lbsr], [mg.key, mg]]) };
    const b = new EbpfBackend({ pinRoot: `/sys/fs/bpf/${ns}`, bpfObjectDir: OBJECT_DIR, netns: `/run/netns/${ns}`, watchLinks: false, interfacePollMs: 0 });
    try {
      expect((await b.sync({ table }, { full: true })).failed).toEqual([]);
      const kernel = await b.kernelState();
      // The backend's defaults: localhost NodePorts on (no --nodeport-addresses).
      const want = render(table, undefined, { localhostNodePorts: servesLocalhostNodePorts({}) }).desired;
      expect(want.services.size).toBeGreaterThan(20); // the fixture does exercise the maps
      expect(want.srcRanges.size).toBe(2);
      expect(want.maglev.size).toBe(2);
      expect(sorted(kernel!)).toEqual(sorted(want));
    } finally {
      await b.cleanup();
    }
  });

  it('iptables: the first sync passes iptables-restore exactly render()\'s input, per family', async () => {
    const table = featureTable();
    const opts = { clusterCIDRs: ['198.18.0.0/16'], nodePortAddresses: ['198.19.200.0/24'] };
    const b = new IptablesBackend({ ...opts, netns: ns });
    try {
      expect((await b.sync({ table }, { full: true })).failed).toEqual([]);
      const written = [4, 6].map((f) => `# IPv${f}: ${f === 4 ? 'iptables' : 'ip6tables'}-restore --noflush\n${b.lastRestore.get(f as 4 | 6)}`).join('\n');
      const rendered = new IptablesBackend(opts).render(table);
      expect(rendered).toContain('198.19.200.1'); // --nodeport-addresses ∩ the Node's address, not the host's
      expect(written).toBe(rendered);
    } finally {
      await b.cleanup();
    }
  });
});
