// The shared topology of the conformance suite (one per backend run): two nodes on an
// underlay, pods on each, a client pod per node and an external client. Pod IPs
// 198.18.<node>.0/24; node addresses 198.19.200.<node>; VIPs 198.19.0.0/17 (seed:
// 198.19.1.175); external/LB IPs 198.19.250.0/24, routed by the external client via node-a.
import { endpointSlice, service, type EndpointSpec } from '../harness/manifests.js';

export const NODE = 'node-a';
export const NODE_B = 'node-b';
export const NODES = [
  { name: NODE, index: 1, zone: 'zone-1' },
  { name: NODE_B, index: 2, zone: 'zone-2' },
] as const;
export const CLIENT = 'client';
export const CLIENT_IP = '198.18.1.100';
export const CLIENT_B = 'client-b';
export const CLIENT_B_IP = '198.18.2.100';
export const EXTERNAL = 'ext';
export const EXTERNAL_HOST = 100; // 198.19.200.100

export const PODS = [
  { name: 'hostnames-a', ip: '198.18.1.2', node: NODE },
  { name: 'hostnames-b', ip: '198.18.1.3', node: NODE },
  { name: 'hostnames-c', ip: '198.18.1.4', node: NODE },
  { name: 'hostnames-d', ip: '198.18.1.5', node: NODE },
  { name: 'extra-e', ip: '198.18.1.6', node: NODE },
  { name: 'remote-f', ip: '198.18.2.2', node: NODE_B },
  { name: 'remote-g', ip: '198.18.2.3', node: NODE_B },
] as const;

export function ep(pod: string, extra: Partial<EndpointSpec> = {}): EndpointSpec {
  const p = PODS.find((x) => x.name === pod);
  if (!p) throw new Error(`no pod ${pod}`);
  return { ip: p.ip, pod: p.name, node: p.node, ...extra };
}

/** A one-port service `name` on `vip:port` → 9376 with the given endpoints. */
export function simpleService(name: string, vip: string, port: number, endpoints: EndpointSpec[], protocol: 'TCP' | 'UDP' = 'TCP'): object[] {
  return [
    service({ name, clusterIP: vip, ports: [{ port, targetPort: 9376, protocol }] }),
    endpointSlice(name, [{ port: 9376, protocol }], endpoints),
  ];
}

/** The IPv6 address of a fixture pod (see harness/topology.ts podIPv6). */
export function ep6(pod: string, extra: Partial<EndpointSpec> = {}): EndpointSpec {
  const e = ep(pod, extra);
  const [, , n, h] = e.ip.split('.');
  return { ...e, ip: `2001:db8:18:${n}::${h}` };
}
