import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics/metrics.js';

describe('datapath metrics', () => {
  it('each scrape shows the kernel totals as they are then, by path and by reason', async () => {
    const m = createMetrics();
    let drops = 3;
    m.datapath.read = () => ({ packets: { new: 5, reply: 7 }, drops: { no_backend: drops, snat_ports_exhausted: 0 } });
    const first = await m.registry.metrics();
    expect(first).toContain('# TYPE bpfproxy_datapath_drops_total counter');
    expect(first).toContain('bpfproxy_datapath_packets_total{path="new"} 5');
    expect(first).toContain('bpfproxy_datapath_packets_total{path="reply"} 7');
    expect(first).toContain('bpfproxy_datapath_drops_total{reason="no_backend"} 3');
    expect(first).toContain('bpfproxy_datapath_drops_total{reason="snat_ports_exhausted"} 0');
    drops = 4; // not 3 + 4: the kernel's count replaces the last scrape's
    expect(await m.registry.metrics()).toContain('bpfproxy_datapath_drops_total{reason="no_backend"} 4');
  });

  it('without a data plane to read, the datapath metrics have no samples', async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).not.toMatch(/^bpfproxy_datapath_\w+\{/m);
  });
});
