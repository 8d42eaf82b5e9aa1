// Bad objects for DNS: a located problem, the object skipped, its last valid form kept, and
// the rest answering. Plus the reverse-name and endpoint-name rules, checked on the
// specification's own examples.
import { describe, expect, it } from 'vitest';
import { ClusterZone, endpointHostname, reverseToIP } from '../../src/dns/cluster-zone.js';
import { DnsObjects } from '../../src/dns/dns-objects.js';
import type { Answer } from 'dns-packet';
import type { InputProblem } from '../../src/model/types.js';
import type { SourceEvent } from '../../src/sources/types.js';

const svc = (name: string, spec: object): SourceEvent => ({
  type: 'ADDED', kind: 'Service', key: `default/${name}`, source: 'svc.yaml',
  object: { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec } as never,
});

const data = (r: Answer) => ('data' in r ? r.data : undefined);

describe('DnsObjects: bad input', () => {
  it('names the object and field, skips the bad form, keeps the last valid one and the others', async () => {
    const problems: InputProblem[] = [];
    const objects = new DnsObjects(true, (p) => problems.push(p));
    const zone = new ClusterZone(objects, { zone: 'cluster.local', ttl: 5, pods: 'insecure' });
    zone.synced = true;
    objects.onEvent(svc('a', { clusterIP: '198.19.2.1', ports: [{ port: 80 }] }));
    objects.onEvent(svc('b', { clusterIP: '198.19.2.2', ports: [{ port: 80 }] }));
    objects.onEvent({ ...svc('a', { clusterIP: '198.19.2.300', ports: [{ port: 80 }] }), type: 'MODIFIED' });
    objects.onEvent(svc('c', { type: 'ExternalName', externalName: 'bad name!' }));
    objects.onEvent(svc('d', { clusterIP: '198.19.2.4', ports: [{ port: 70000 }] }));
    expect(problems.map((p) => [p.source, p.object, p.field])).toEqual([
      ['svc.yaml', 'Service default/a', 'spec.clusterIP'],
      ['svc.yaml', 'Service default/c', 'spec.externalName'],
      ['svc.yaml', 'Service default/d', 'spec.ports[0].port'],
    ]);
    const a = await zone.lookup({ type: 'A', name: 'a.default.svc.cluster.local', class: 'IN' });
    expect(a.answers.map(data)).toEqual(['198.19.2.1']);
    const b = await zone.lookup({ type: 'A', name: 'b.default.svc.cluster.local', class: 'IN' });
    expect(b.answers.map(data)).toEqual(['198.19.2.2']);
    expect((await zone.lookup({ type: 'CNAME', name: 'c.default.svc.cluster.local', class: 'IN' })).rcode).toBe(3);
  });
});

describe('name rules', () => {
  it('reverse names: all four / all 32 labels give the IP, in the API server\'s text form; partial names none', () => {
    expect(reverseToIP('10.2.19.198.in-addr.arpa')).toBe('198.19.2.10');
    expect(reverseToIP('2.19.198.in-addr.arpa')).toBe('');
    const nibbles = '1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.1.0.0.8.b.d.0.1.0.0.2';
    expect(reverseToIP(`${nibbles}.ip6.arpa`)).toBe('2001:db8:19::11');
    expect(reverseToIP('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa')).toBe('::1');
  });

  it('endpoint names: the hostname, else the address with dashes (a trailing "-" gets a 0)', () => {
    expect(endpointHostname('198.18.2.21')).toBe('198-18-2-21');
    expect(endpointHostname('198.18.2.20', 'db-0')).toBe('db-0');
    expect(endpointHostname('2001:db8::')).toBe('2001-db8--0');
  });

  it('--dns-pods verified answers only an IP a Pod in that namespace has', async () => {
    const objects = new DnsObjects(true);
    objects.onEvent({
      type: 'ADDED', kind: 'Pod', key: 'default/p', source: 'api',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, status: { phase: 'Running', podIP: '198.18.2.5' } } as never,
    });
    objects.onEvent({ type: 'ADDED', kind: 'Namespace', key: 'other', source: 'api', object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } } });
    const zone = new ClusterZone(objects, { zone: 'cluster.local', ttl: 5, pods: 'verified' });
    zone.synced = true;
    const q = (name: string) => zone.lookup({ type: 'A', name, class: 'IN' });
    expect((await q('198-18-2-5.default.pod.cluster.local')).answers.map(data)).toEqual(['198.18.2.5']);
    expect((await q('198-18-2-6.default.pod.cluster.local')).rcode).toBe(3);
    expect((await q('198-18-2-5.other.pod.cluster.local')).rcode).toBe(3);
  });
});
