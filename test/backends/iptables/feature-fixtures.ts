// Services exercising each kube-proxy feature, on the design's test addresses: node-a is
// "this" node (198.19.200.1), node-b another; pods 198.18.<node>.x; VIPs 198.19.x;
// external/LB IPs 198.19.250.x.
import type { ServicePortEntry } from '../../../src/model/types.js';
import { endpoint, entry } from './fixtures.js';

export const NODE_IP = '198.19.200.1';
export const EXTERNAL_CLIENT = '198.19.200.100';
export const POD_CLIENT = '198.18.1.100';
export const CLUSTER_CIDR = '198.18.0.0/16';

const local1 = endpoint('198.18.1.2', 9376);
const local2 = endpoint('198.18.1.3', 9376);
const remote = endpoint('198.18.2.2', 9376, { nodeName: 'node-b' });

export const nodePort = entry('default', 'np', '', '198.19.1.10', 80, [local1, remote], { nodePort: 30080 });
export const externalIP = entry('default', 'ext', 'http', '198.19.1.11', 80, [local1, remote], { externalIPs: ['198.19.250.10'] });
export const loadBalancer = entry('default', 'lb', '', '198.19.1.12', 80, [local1, remote], {
  nodePort: 30081,
  loadBalancerIPs: ['198.19.250.20'],
});
export const etpLocal = entry('default', 'etp', '', '198.19.1.13', 80, [local1, local2, remote], {
  nodePort: 30082,
  loadBalancerIPs: ['198.19.250.21'],
  externalTrafficPolicy: 'Local',
  healthCheckNodePort: 32000,
});
export const etpLocalNone = entry('default', 'etp-none', '', '198.19.1.14', 80, [remote], {
  nodePort: 30083,
  externalIPs: ['198.19.250.11'],
  externalTrafficPolicy: 'Local',
  healthCheckNodePort: 32001,
});
export const itpLocal = entry('default', 'itp', '', '198.19.1.15', 80, [local1, remote], { internalTrafficPolicy: 'Local' });
export const itpLocalNone = entry('default', 'itp-none', '', '198.19.1.16', 80, [remote], { internalTrafficPolicy: 'Local' });
export const multiPort: ServicePortEntry[] = [
  entry('default', 'multi', 'http', '198.19.1.17', 80, [endpoint('198.18.1.2', 8080), endpoint('198.18.1.3', 8080)]),
  entry('default', 'multi', 'https', '198.19.1.17', 443, [endpoint('198.18.1.2', 8443), endpoint('198.18.1.3', 8443)]),
];
export const udp = entry('kube-system', 'dns', 'dns', '198.19.0.10', 53, [endpoint('198.18.1.2', 5353), endpoint('198.18.1.3', 5353)], {
  protocol: 'UDP',
});
export const ipv6 = entry('default', 'v6', '', '2001:db8:19::a', 80, [endpoint('2001:db8:18::2', 9376), endpoint('2001:db8:18::3', 9376)], {
  nodePort: 30084,
});
export const terminating = entry('default', 'term', '', '198.19.1.18', 80, [
  endpoint('198.18.1.2', 9376, { ready: false, serving: true, terminating: true }),
  endpoint('198.18.1.3', 9376, { ready: false, serving: false, terminating: true }),
]);
export const noEndpoints = entry('default', 'empty', '', '198.19.1.19', 80, [], {
  nodePort: 30085,
  externalIPs: ['198.19.250.12'],
  loadBalancerIPs: ['198.19.250.22'],
});
