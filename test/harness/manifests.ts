// Compact builders for the Kubernetes objects tests write into a manifests directory.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PortSpec {
  name?: string;
  port: number;
  targetPort: number | string;
  protocol?: 'TCP' | 'UDP';
  nodePort?: number;
}

export interface ServiceSpec {
  name: string;
  namespace?: string;
  clusterIP: string;
  /** A dual-stack Service's second ClusterIP (the other family): ipFamilyPolicy RequireDualStack. */
  secondClusterIP?: string;
  ports: PortSpec[];
  type?: string;
  sessionAffinity?: { timeoutSeconds: number };
  labels?: Record<string, string>;
  externalIPs?: string[];
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy?: 'Cluster' | 'Local';
  /** For type LoadBalancer: the ingress IP the (imaginary) cloud assigned. */
  loadBalancerIP?: string;
  trafficDistribution?: 'PreferSameZone' | 'PreferSameNode';
  loadBalancerSourceRanges?: string[];
}

export interface EndpointSpec {
  ip: string;
  pod: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  /** Topology hints, as the EndpointSlice controller sets them for trafficDistribution. */
  hints?: { zones?: string[]; nodes?: string[] };
}

export function service(s: ServiceSpec): object {
  // As the API server stores them: clusterIPs[0] is clusterIP, ipFamilies follow clusterIPs.
  const clusterIPs = [s.clusterIP, ...(s.secondClusterIP ? [s.secondClusterIP] : [])];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace ?? 'default', ...(s.labels ? { labels: s.labels } : {}) },
    spec: {
      type: s.type ?? 'ClusterIP',
      clusterIP: s.clusterIP,
      clusterIPs,
      ipFamilies: clusterIPs.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')),
      ipFamilyPolicy: clusterIPs.length > 1 ? 'RequireDualStack' : 'SingleStack',
      selector: { app: s.name },
      ports: s.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, targetPort: p.targetPort, protocol: p.protocol ?? 'TCP', ...(p.nodePort ? { nodePort: p.nodePort } : {}) })),
      ...(s.sessionAffinity ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: s.sessionAffinity.timeoutSeconds } } } : {}),
      ...(s.externalIPs ? { externalIPs: s.externalIPs } : {}),
      ...(s.externalTrafficPolicy ? { externalTrafficPolicy: s.externalTrafficPolicy } : {}),
      ...(s.internalTrafficPolicy ? { internalTrafficPolicy: s.internalTrafficPolicy } : {}),
      ...(s.trafficDistribution ? { trafficDistribution: s.trafficDistribution } : {}),
      ...(s.loadBalancerSourceRanges ? { loadBalancerSourceRanges: s.loadBalancerSourceRanges } : {}),
    },
    ...(s.loadBalancerIP ? { status: { loadBalancer: { ingress: [{ ip: s.loadBalancerIP }] } } } : {}),
  };
}

/** One EndpointSlice for a service; ports are `{name, port, protocol}` as the controller writes them. */
export function endpointSlice(svc: string, ports: Array<{ name?: string; port: number; protocol?: string }>, endpoints: EndpointSpec[], namespace = 'default', sliceName = `${svc}-abc12`): object {
  const v6 = endpoints.length > 0 && endpoints.every((e) => e.ip.includes(':'));
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: sliceName, namespace, labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: v6 ? 'IPv6' : 'IPv4',
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.hints ? { hints: { ...(e.hints.zones ? { forZones: e.hints.zones.map((name) => ({ name })) } : {}), ...(e.hints.nodes ? { forNodes: e.hints.nodes.map((name) => ({ name })) } : {}) } } : {}),
      targetRef: { kind: 'Pod', name: e.pod, namespace },
    })),
  };
}

/**
 * A Node with its underlay address(es) and pod CIDR(s) (and zone label), as the kubelet would
 * report it; a dual-stack node lists one InternalIP and one pod CIDR per family, primary family first.
 */
export function node(name: string, address: string | string[], podCIDR: string | string[], zone?: string): object {
  const addresses = typeof address === 'string' ? [address] : address;
  const podCIDRs = typeof podCIDR === 'string' ? [podCIDR] : podCIDR;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, ...(zone ? { labels: { 'topology.kubernetes.io/zone': zone } } : {}) },
    spec: { podCIDR: podCIDRs[0], podCIDRs },
    status: { addresses: [...addresses.map((a) => ({ type: 'InternalIP', address: a })), { type: 'Hostname', address: name }] },
  };
}

/** Where a test writes its objects, as named groups ("files"): a ManifestDir, or the API server. */
export interface ObjectWriter {
  /** The manifests directory (manifests source only). */
  readonly dir?: string;
  write(file: string, objects: object[]): Promise<void>;
  remove(file: string): Promise<void>;
  clear(keep?: string[]): Promise<void>;
}

/** A manifests directory a test owns: write/replace named files atomically. */
export class ManifestDir implements ObjectWriter {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Writes objects as a JSON List (rename makes the change atomic for the watcher). */
  async write(file: string, objects: object[]): Promise<void> {
    const tmp = join(this.dir, `.${file}.tmp`);
    await writeFile(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 1));
    const { rename } = await import('node:fs/promises');
    await rename(tmp, join(this.dir, file));
  }

  async remove(file: string): Promise<void> {
    await rm(join(this.dir, file), { force: true });
  }

  /** Removes every file but those in `keep` (e.g. the Node objects that outlive cases). */
  async clear(keep: string[] = []): Promise<void> {
    for (const f of await readdir(this.dir)) if (!keep.includes(f)) await rm(join(this.dir, f), { force: true, recursive: true });
  }
}
