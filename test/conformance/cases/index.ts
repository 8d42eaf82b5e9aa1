import type { ConformanceCase } from '../types.js';
import { affinitySwitch, affinityTimeout } from './affinity.js';
import { badEditKeepsService } from './bad-input.js';
import { bulkTransfer, fragmentedUdp, pathMtuDiscovery } from './bulk.js';
import { endpointChurn, noEndpoints, onlyReady, seed, udpClusterIP } from './clusterip-basic.js';
import { externalIPs, externalLocal, healthCheckNodePort, loadBalancer, loadBalancerSourceRanges, localhostNodePort, nodePort, nodePortPrimary, snatSameSourcePort } from './external.js';
import { connectedUdpBackendRemoved, restoredAfterTamper, udpRepin } from './recovery.js';
import { ipv6ClusterIP } from './ipv6.js';
import { dualStackClusterIP, ipv6Affinity, ipv6AffinityTimeout, ipv6ExternalLocal, ipv6NodePort } from './dual-stack.js';
import { cleanupLeavesNothing, establishedSurvivesChurn, restartNoLoss } from './resilience.js';
import { internalLocal, otherProxy, terminatingFallback, topologyHints } from './selection.js';
import { crossNode, ctInvalidDrop, l3TunnelCrossNode, distribution, hairpin, largeRequest, multiPort, newPodFirstPacket, nodeLocalClient, sourceIP, tcpAndUdp } from './traffic.js';

/** Every case, in the order the suite runs them (cleanup last: it restarts the proxy). */
export const CASES: ConformanceCase[] = [
  seed,
  onlyReady,
  endpointChurn,
  noEndpoints,
  udpClusterIP,
  badEditKeepsService,
  crossNode,
  l3TunnelCrossNode,
  distribution,
  multiPort,
  tcpAndUdp,
  sourceIP,
  largeRequest,
  hairpin,
  nodeLocalClient,
  newPodFirstPacket,
  ctInvalidDrop,
  terminatingFallback,
  internalLocal,
  topologyHints,
  otherProxy,
  ipv6ClusterIP,
  dualStackClusterIP,
  nodePort,
  nodePortPrimary,
  localhostNodePort,
  externalIPs,
  loadBalancer,
  loadBalancerSourceRanges,
  externalLocal,
  ipv6NodePort,
  ipv6ExternalLocal,
  healthCheckNodePort,
  snatSameSourcePort,
  bulkTransfer,
  pathMtuDiscovery,
  fragmentedUdp,
  udpRepin,
  connectedUdpBackendRemoved,
  restoredAfterTamper,
  affinityTimeout,
  affinitySwitch,
  ipv6Affinity,
  ipv6AffinityTimeout,
  establishedSurvivesChurn,
  restartNoLoss,
  cleanupLeavesNothing,
];
