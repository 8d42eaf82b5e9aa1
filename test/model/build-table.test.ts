import { describe, expect, it } from 'vitest';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { buildServiceTable, type ClusterObjects } from '../../src/model/build-table.js';
import { selectEndpoints } from '../../src/model/select-endpoints.js';

function svc(over: Partial<V1Service['spec']> = {}, meta: Partial<V1Service['metadata']> = {}): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'hostnames', namespace: 'default', ...meta },
    spec: { clusterIP: '198.19.1.175', ports: [{ port: 80, targetPort: 9376, protocol: 'TCP' }], ...over },
  };
}

function slice(endpoints: V1EndpointSlice['endpoints'], ports: V1EndpointSlice['ports'] = [{ name: '', port: 9376, protocol: 'TCP' }], name = 'hostnames-x'): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': 'hostnames' } },
    addressType: 'IPv4',
    ports,
    endpoints,
  };
}

function objs(services: V1Service[], slices: V1EndpointSlice[] = []): ClusterObjects {
  return {
    services: services.map((obj) => ({ obj, source: 'test.yaml' })),
    endpointSlices: slices.map((obj) => ({ obj, source: 'test.yaml' })),
    nodes: [],
  };
}

const ready = (ip: string, node = 'node-a') => ({ addresses: [ip], conditions: { ready: true }, nodeName: node });

describe('buildServiceTable', () => {
  it('keys an unnamed port as ns/name/proto and resolves endpoints through the slice', () => {
    const { table, problems } = buildServiceTable(objs([svc()], [slice([ready('198.18.1.3'), ready('198.18.1.2')])]), { nodeName: 'node-a' });
    expect(problems).toEqual([]);
    const e = table.services.get('default/hostnames/tcp');
    expect(e?.name).toEqual({ namespace: 'default', name: 'hostnames', port: '', protocol: 'TCP' });
    expect(e?.endpoints.map((x) => `${x.ip}:${x.port}`)).toEqual(['198.18.1.2:9376', '198.18.1.3:9376']);
  });

  it('gives each named port its own entry and resolves named targetPorts by slice port name', () => {
    const s = svc({
      ports: [
        { name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' },
        { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
      ],
    });
    const sl = slice([ready('198.18.1.2')], [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'dns', port: 5353, protocol: 'UDP' },
    ]);
    const { table } = buildServiceTable(objs([s], [sl]), { nodeName: 'n' });
    expect([...table.services.keys()].sort()).toEqual(['default/hostnames:dns/udp', 'default/hostnames:http/tcp']);
    expect(table.services.get('default/hostnames:http/tcp')?.endpoints[0]?.port).toBe(8080);
    expect(table.services.get('default/hostnames:dns/udp')?.endpoints[0]?.port).toBe(5353);
  });

  it('uses only ready endpoints, and serving+terminating ones only when none is ready', () => {
    const eps = [
      ready('198.18.1.2'),
      { addresses: ['198.18.1.3'], conditions: { ready: false, serving: false } },
      { addresses: ['198.18.1.4'], conditions: { ready: false, serving: true, terminating: true } },
    ];
    const { table } = buildServiceTable(objs([svc()], [slice(eps)]), { nodeName: 'node-a' });
    const e = table.services.get('default/hostnames/tcp')!;
    expect(selectEndpoints(e, 'node-a').cluster.map((x) => x.ip)).toEqual(['198.18.1.2']);
    const onlyTerminating = buildServiceTable(objs([svc()], [slice(eps.slice(1))]), { nodeName: 'node-a' }).table;
    expect(selectEndpoints(onlyTerminating.services.get('default/hostnames/tcp')!, 'node-a').cluster.map((x) => x.ip)).toEqual(['198.18.1.4']);
  });

  it('restricts to local endpoints for internalTrafficPolicy Local', () => {
    const { table } = buildServiceTable(objs([svc({ internalTrafficPolicy: 'Local' })], [slice([ready('198.18.1.2', 'node-a'), ready('198.18.2.2', 'node-b')])]), { nodeName: 'node-b' });
    expect(selectEndpoints(table.services.get('default/hostnames/tcp')!, 'node-b').internal.map((x) => x.ip)).toEqual(['198.18.2.2']);
  });

  it('reads topology hints from the slice, and the zone label and addresses (InternalIP first) from the Node', () => {
    const hinted = { ...ready('198.18.1.2'), hints: { forZones: [{ name: 'z1' }], forNodes: [{ name: 'node-a' }] } };
    const o = objs([svc()], [slice([hinted, ready('198.18.2.2', 'node-b')])]);
    const addresses = [{ type: 'ExternalIP', address: '198.19.250.9' }, { type: 'Hostname', address: 'node-a' }, { type: 'InternalIP', address: '198.19.200.1' }];
    o.nodes = [{ obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'z1' } }, status: { addresses } }, source: 'test.yaml' }];
    const { table } = buildServiceTable(o, { nodeName: 'node-a' });
    const eps = table.services.get('default/hostnames/tcp')!.endpoints;
    expect(eps.map((e) => [e.ip, e.zoneHints, e.nodeHints])).toEqual([['198.18.1.2', ['z1'], ['node-a']], ['198.18.2.2', undefined, undefined]]);
    expect(table.nodes.get('node-a')?.zone).toBe('z1');
    expect(table.nodes.get('node-a')?.addresses).toEqual(['198.19.200.1', '198.19.250.9']); // InternalIPs first: the primary
  });

  it('does not proxy headless, ExternalName or other-proxy services', () => {
    const { table, problems } = buildServiceTable(
      objs([
        svc({ clusterIP: 'None' }, { name: 'headless' }),
        svc({ type: 'ExternalName', externalName: 'example.invalid' }, { name: 'ext' }),
        svc({}, { name: 'other', labels: { 'service.kubernetes.io/service-proxy-name': 'someone-else' } }),
      ]),
      { nodeName: 'n' },
    );
    expect(table.services.size).toBe(0);
    expect(problems).toEqual([]);
  });

  it('reads ClientIP affinity with its default timeout', () => {
    const { table } = buildServiceTable(objs([svc({ sessionAffinity: 'ClientIP' })]), { nodeName: 'n' });
    expect(table.services.get('default/hostnames/tcp')?.sessionAffinity).toEqual({ type: 'ClientIP', timeoutSeconds: 10800 });
  });
});

describe('bad input', () => {
  it('skips a service with an invalid ClusterIP, naming object and field, and keeps the others', () => {
    const bad = svc({ clusterIP: '198.19.1.300' }, { name: 'bad' });
    const { table, problems } = buildServiceTable(objs([bad, svc()]), { nodeName: 'n' });
    expect([...table.services.keys()]).toEqual(['default/hostnames/tcp']);
    expect(problems).toEqual([{ source: 'test.yaml', object: 'Service default/bad', field: 'spec.clusterIP', message: 'invalid IP address "198.19.1.300"' }]);
  });

  it('reports an invalid port with its index', () => {
    const { problems } = buildServiceTable(objs([svc({ ports: [{ port: 70000, targetPort: 1 }] })]), { nodeName: 'n' });
    expect(problems[0]).toMatchObject({ object: 'Service default/hostnames', field: 'spec.ports[0].port' });
  });

  it('reports an endpoint with an invalid address and skips that slice', () => {
    const { table, problems } = buildServiceTable(objs([svc()], [slice([{ addresses: ['not-an-ip'] }])]), { nodeName: 'n' });
    expect(problems[0]).toMatchObject({ object: 'EndpointSlice default/hostnames-x', field: 'endpoints[0].addresses[0]' });
    expect(table.services.get('default/hostnames/tcp')?.endpoints).toEqual([]);
  });

  it('keeps the last valid form of an object that an edit made invalid', () => {
    const first = buildServiceTable(objs([svc()], [slice([ready('198.18.1.2')])]), { nodeName: 'n' });
    const second = buildServiceTable(objs([svc({ clusterIP: 'bogus' })], [slice([{ addresses: ['bogus'] }])]), { nodeName: 'n', lastGood: first.lastGood });
    expect(second.problems).toHaveLength(2);
    expect(second.table.services.get('default/hostnames/tcp')?.clusterIPs).toEqual(['198.19.1.175']);
    expect(second.table.services.get('default/hostnames/tcp')?.endpoints.map((e) => e.ip)).toEqual(['198.18.1.2']);
    // Deleting the object removes it even though it has a last-good form.
    const third = buildServiceTable(objs([]), { nodeName: 'n', lastGood: second.lastGood });
    expect(third.table.services.size).toBe(0);
  });
});

describe('bpfproxy.io/lb-algorithm annotation', () => {
  const annotated = (v: string, name = 'hostnames') => svc({ ports: [{ name: 'a', port: 80, targetPort: 9376 }, { name: 'b', port: 81, targetPort: 9377 }] }, { name, annotations: { 'bpfproxy.io/lb-algorithm': v } });

  it('sets every port of the Service to the algorithm it names; absent, the flag decides', () => {
    const { table, problems } = buildServiceTable(objs([annotated('maglev'), svc({ clusterIP: '198.19.1.176' }, { name: 'plain' })]), { nodeName: 'n' });
    expect(problems).toEqual([]);
    expect(table.services.get('default/hostnames:a/tcp')?.lbAlgorithm).toBe('maglev');
    expect(table.services.get('default/hostnames:b/tcp')?.lbAlgorithm).toBe('maglev');
    expect(table.services.get('default/plain/tcp')).not.toHaveProperty('lbAlgorithm');
    expect(buildServiceTable(objs([annotated('random')]), { nodeName: 'n' }).table.services.get('default/hostnames:a/tcp')?.lbAlgorithm).toBe('random');
  });

  it('a bad value is a problem naming the Service and the annotation; the Service is still proxied, with the flag\'s algorithm', () => {
    const { table, problems } = buildServiceTable(objs([annotated('Maglev', 'typo')]), { nodeName: 'n' });
    expect(problems).toEqual([{
      source: 'test.yaml',
      object: 'Service default/typo',
      field: 'metadata.annotations["bpfproxy.io/lb-algorithm"]',
      message: 'unknown load-balancing algorithm "Maglev" (want random or maglev); the Service uses --lb-algorithm\'s',
      kept: true,
    }]);
    expect([...table.services.keys()].sort()).toEqual(['default/typo:a/tcp', 'default/typo:b/tcp']);
    expect(table.services.get('default/typo:a/tcp')).not.toHaveProperty('lbAlgorithm');
  });
});
