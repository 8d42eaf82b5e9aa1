// The shared topology of the conformance suite (one per backend run) and the seed's
// objects. Pod IPs 198.18.1.0/24 on node-a; VIPs 198.19.0.0/17 (seed: 198.19.1.175).
import { endpointSlice, service, type EndpointSpec } from '../harness/manifests.js';

export const NODE = 'node-a';
export const CLIENT = 'client';
export const CLIENT_IP = '198.18.1.100';

export const PODS = [
  { name: 'hostnames-a', ip: '198.18.1.2' },
  { name: 'hostnames-b', ip: '198.18.1.3' },
  { name: 'hostnames-c', ip: '198.18.1.4' },
  { name: 'hostnames-d', ip: '198.18.1.5' },
  { name: 'extra-e', ip: '198.18.1.6' },
] as const;

export function ep(pod: string, extra: Partial<EndpointSpec> = {}): EndpointSpec {
  const p = PODS.find((x) => x.name === pod);
  if (!p) throw new Error(`no pod ${pod}`);
  return { ip: p.ip, pod: p.name, node: NODE, ...extra };
}

/** A one-port service `name` on `vip:port` → 9376 with the given endpoints. */
export function simpleService(name: string, vip: string, port: number, endpoints: EndpointSpec[], protocol: 'TCP' | 'UDP' = 'TCP'): object[] {
  return [
    service({ name, clusterIP: vip, ports: [{ port, targetPort: 9376, protocol }] }),
    endpointSlice(name, [{ port: 9376, protocol }], endpoints),
  ];
}
