// kube-proxy's selector applied to events: what a server-side label selector would deliver.
import { describe, expect, it } from 'vitest';
import { ProxiedFilter } from '../../src/sources/proxied-filter.js';
import type { SourceEvent } from '../../src/sources/types.js';

const ev = (type: SourceEvent['type'], kind: SourceEvent['kind'], labels: Record<string, string> = {}): SourceEvent => ({
  type, kind, key: 'default/a', source: 'api', object: { apiVersion: 'v1', kind, metadata: { name: 'a', namespace: 'default', labels } },
});

describe('ProxiedFilter', () => {
  it('passes unlabelled Services and slices, drops headless and other proxies\' ones, passes other kinds', () => {
    const f = new ProxiedFilter();
    expect(f.filter(ev('ADDED', 'Service'))?.type).toBe('ADDED');
    expect(f.filter(ev('ADDED', 'EndpointSlice', { 'service.kubernetes.io/headless': '' }))).toBeUndefined();
    expect(f.filter(ev('ADDED', 'EndpointSlice', { 'service.kubernetes.io/service-proxy-name': 'other' }))).toBeUndefined();
    expect(f.filter(ev('ADDED', 'Namespace'))?.type).toBe('ADDED');
  });

  it('turns "stopped matching" into a delete, once, and a delete of what never passed into nothing', () => {
    const f = new ProxiedFilter('mine');
    const mine = { 'service.kubernetes.io/service-proxy-name': 'mine' };
    expect(f.filter(ev('ADDED', 'Service', mine))?.type).toBe('ADDED');
    expect(f.filter(ev('MODIFIED', 'Service', {}))?.type).toBe('DELETED');
    expect(f.filter(ev('MODIFIED', 'Service', {}))).toBeUndefined();
    expect(f.filter(ev('DELETED', 'Service', {}))).toBeUndefined();
    expect(f.filter(ev('MODIFIED', 'Service', mine))?.type).toBe('MODIFIED');
    expect(f.filter(ev('DELETED', 'Service', mine))?.type).toBe('DELETED');
  });
});
