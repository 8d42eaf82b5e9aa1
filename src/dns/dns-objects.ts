// The DNS view of the object cache: every Service (headless and ExternalName ones too, which
// the proxier skips), its EndpointSlices, and Pod IPs by namespace, kept up to date one
// event at a time. Lookups by name are direct (namespace/name), and a reverse index maps
// each cluster IP and endpoint IP to its Services, so no query scans the cluster.
//
// Each slice keeps its own ports, as CoreDNS keeps one Endpoints object per slice: a
// headless Service's records are its slices' addresses × their ports.
//
// Bad input follows the proxier's rule: the object is skipped with a located problem, and a
// Service or slice that turns invalid keeps its last valid form.
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import { SERVICE_NAME_LABEL, describeObj, problem } from '../model/build-table.js';
import { FieldError, requireIP, requireName, requirePort } from '../model/validate.js';
import type { InputProblem } from '../model/types.js';
import type { SourceEvent } from '../sources/types.js';

export interface DnsPort {
  name: string;
  port: number;
  /** Lower case, as it appears in `_port._proto` names. */
  protocol: string;
}

export interface DnsService {
  namespace: string;
  name: string;
  /** `headless`: clusterIP None; `external`: type ExternalName. */
  kind: 'cluster-ip' | 'headless' | 'external';
  /** Cluster IPs (cluster-ip only), primary family first. */
  ips: string[];
  externalName?: string;
  ports: DnsPort[];
  /** spec.publishNotReadyAddresses: not-ready endpoints get records too. */
  publishNotReady: boolean;
}

export interface DnsEndpoint {
  address: string;
  /** The endpoint's hostname (pods with hostname + subdomain, StatefulSets). */
  hostname?: string;
  ready: boolean;
}

export interface DnsSlice {
  /** `namespace/service`. */
  service: string;
  namespace: string;
  serviceName: string;
  endpoints: DnsEndpoint[];
  ports: DnsPort[];
}

function ports(list: Array<{ name?: string; port?: number; protocol?: string }> | undefined, field: string, allowNoPort: boolean): DnsPort[] {
  return (list ?? []).flatMap((p, i) => {
    if (p.port === undefined && allowNoPort) return [];
    return [{ name: p.name ?? '', port: requirePort(p.port, `${field}[${i}].port`), protocol: (p.protocol ?? 'TCP').toLowerCase() }];
  });
}

export function parseDnsService(svc: V1Service): DnsService {
  const namespace = svc.metadata?.namespace ?? 'default';
  const name = requireName(svc.metadata?.name, 'metadata.name');
  const spec = svc.spec ?? {};
  const svcPorts = ports(spec.ports, 'spec.ports', false);
  const publishNotReady = spec.publishNotReadyAddresses === true;
  if (spec.type === 'ExternalName') {
    const target = requireName(spec.externalName, 'spec.externalName');
    if (target.length > 253 || !/^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/.test(target)) {
      throw new FieldError('spec.externalName', `invalid DNS name ${JSON.stringify(target)}`);
    }
    return { namespace, name, kind: 'external', ips: [], externalName: target.replace(/\.$/, ''), ports: svcPorts, publishNotReady };
  }
  if (spec.clusterIP === 'None') return { namespace, name, kind: 'headless', ips: [], ports: svcPorts, publishNotReady };
  const list = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
  const field = spec.clusterIPs?.length ? 'spec.clusterIPs' : 'spec.clusterIP';
  const ips = list.map((ip, i) => requireIP(ip, spec.clusterIPs?.length ? `${field}[${i}]` : field));
  return { namespace, name, kind: 'cluster-ip', ips, ports: svcPorts, publishNotReady };
}

export function parseDnsSlice(slice: V1EndpointSlice): DnsSlice | undefined {
  const namespace = slice.metadata?.namespace ?? 'default';
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!service) return undefined; // not owned by a Service: nothing to name
  if (slice.addressType === 'FQDN') return undefined; // deprecated; CoreDNS ignores it too
  const endpoints: DnsEndpoint[] = [];
  (slice.endpoints ?? []).forEach((e, i) => {
    // Absent ready means ready (the EndpointSlice API's rule). The controller marks every
    // endpoint ready for a Service with publishNotReadyAddresses; the zone also honours
    // that flag itself, for manifests written without a controller.
    const ready = e.conditions?.ready !== false;
    (e.addresses ?? []).forEach((a, j) => {
      const ep: DnsEndpoint = { address: requireIP(a, `endpoints[${i}].addresses[${j}]`), ready };
      if (e.hostname) ep.hostname = e.hostname;
      endpoints.push(ep);
    });
  });
  return { service: `${namespace}/${service}`, namespace, serviceName: service, endpoints, ports: ports(slice.ports as never, 'ports', true) };
}

/** Pod IPs of one Pod (status.podIPs, else status.podIP). */
export function podIPs(pod: V1Pod): string[] {
  const list = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  return list.map((ip, i) => requireIP(ip, `status.podIPs[${i}].ip`));
}

export class DnsObjects {
  readonly services = new Map<string, DnsService>();
  private readonly slices = new Map<string, DnsSlice>();
  private readonly slicesOf = new Map<string, Set<string>>();
  private readonly pods = new Map<string, { namespace: string; ips: string[] }>();
  /** Pod IP → the keys (`namespace/name`) of the Pods that have it (--dns-pods verified). */
  private readonly podIPIndex = new Map<string, Set<string>>();
  /** Cluster IP → Service keys (PTR). */
  private readonly clusterIPIndex = new Map<string, Set<string>>();
  /** Endpoint IP → slice ids (PTR). */
  private readonly endpointIPIndex = new Map<string, Set<string>>();
  private readonly namespaceObjects = new Set<string>();
  /** Namespace → how many Services and Pods are in it (implicit namespaces). */
  private readonly namespaceUse = new Map<string, number>();
  /** Unix seconds of the last change (the SOA serial, as CoreDNS's). */
  modifiedAt = Math.floor(Date.now() / 1000);
  /** Bumped by every change: answers computed at one generation hold until the next. */
  generation = 0;

  /**
   * `implicitNamespaces`: a namespace exists when an object is in it, as well as when a
   * Namespace object names it (a manifests directory rarely lists its Namespaces; the
   * Kubernetes source watches them, so there only Namespace objects count, as in CoreDNS).
   */
  constructor(
    private readonly implicitNamespaces: boolean,
    private readonly onProblem: (p: InputProblem) => void = () => {},
  ) {}

  onEvent(ev: SourceEvent): void {
    const deleted = ev.type === 'DELETED';
    const what = describeObj(ev.kind, ev.object.metadata);
    try {
      switch (ev.kind) {
        case 'Service':
          this.setService(ev.key, deleted ? undefined : parseDnsService(ev.object as V1Service));
          break;
        case 'EndpointSlice':
          this.setSlice(ev.key, deleted ? undefined : parseDnsSlice(ev.object as V1EndpointSlice));
          break;
        case 'Pod': {
          // A Pod that is over keeps no name (CoreDNS drops these phases too).
          const phase = (ev.object as V1Pod).status?.phase;
          const over = phase === 'Succeeded' || phase === 'Failed' || phase === 'Unknown';
          this.setPod(ev.key, deleted || over ? undefined : { namespace: ev.object.metadata?.namespace ?? 'default', ips: podIPs(ev.object as V1Pod) });
          break;
        }
        case 'Namespace':
          if (deleted) this.namespaceObjects.delete(ev.key);
          else this.namespaceObjects.add(ev.key);
          break;
        case 'Node':
          return;
      }
      this.modifiedAt = Math.floor(Date.now() / 1000);
      this.generation++;
    } catch (e) {
      this.onProblem(problem(ev.source, what, e)); // the last valid form stays
    }
  }

  /** A Service's slices, in slice-name order. */
  slicesOfService(key: string): DnsSlice[] {
    return [...(this.slicesOf.get(key) ?? [])].sort().flatMap((id) => this.slices.get(id) ?? []);
  }

  /** Services whose cluster IP is `ip`, by key. */
  servicesWithClusterIP(ip: string): DnsService[] {
    return [...(this.clusterIPIndex.get(ip) ?? [])].sort().flatMap((k) => this.services.get(k) ?? []);
  }

  /** Slices with an endpoint at `ip`. */
  slicesWithEndpoint(ip: string): DnsSlice[] {
    return [...(this.endpointIPIndex.get(ip) ?? [])].sort().flatMap((id) => this.slices.get(id) ?? []);
  }

  hasPod(namespace: string, ip: string): boolean {
    for (const key of this.podIPIndex.get(ip) ?? []) if (key.startsWith(`${namespace}/`)) return true;
    return false;
  }

  /**
   * The endpoints of a slice that get names: the ready ones, or all of them when the
   * Service publishes not-ready addresses (the EndpointSlice controller's rule, honoured here
   * for manifests written without one).
   */
  named(slice: DnsSlice): DnsEndpoint[] {
    if (this.services.get(slice.service)?.publishNotReady) return slice.endpoints;
    return slice.endpoints.filter((e) => e.ready);
  }

  hasNamespace(namespace: string): boolean {
    return this.namespaceObjects.has(namespace) || (this.implicitNamespaces && (this.namespaceUse.get(namespace) ?? 0) > 0);
  }

  // ------------------------------------------------------------ index upkeep

  private static add<K, V>(index: Map<K, Set<V>>, k: K, v: V): void {
    let s = index.get(k);
    if (!s) index.set(k, (s = new Set()));
    s.add(v);
  }

  private static remove<K, V>(index: Map<K, Set<V>>, k: K, v: V): void {
    const s = index.get(k);
    s?.delete(v);
    if (s?.size === 0) index.delete(k);
  }

  private useNamespace(ns: string, delta: number): void {
    const n = (this.namespaceUse.get(ns) ?? 0) + delta;
    if (n > 0) this.namespaceUse.set(ns, n);
    else this.namespaceUse.delete(ns);
  }

  private setService(key: string, svc: DnsService | undefined): void {
    const old = this.services.get(key);
    if (old) {
      this.useNamespace(old.namespace, -1);
      for (const ip of old.ips) DnsObjects.remove(this.clusterIPIndex, ip, key);
    }
    if (svc) {
      this.services.set(key, svc);
      this.useNamespace(svc.namespace, +1);
      for (const ip of svc.ips) DnsObjects.add(this.clusterIPIndex, ip, key);
    } else this.services.delete(key);
  }

  private setSlice(id: string, slice: DnsSlice | undefined): void {
    const old = this.slices.get(id);
    if (old) {
      DnsObjects.remove(this.slicesOf, old.service, id);
      for (const e of old.endpoints) DnsObjects.remove(this.endpointIPIndex, e.address, id);
    }
    if (slice) {
      this.slices.set(id, slice);
      DnsObjects.add(this.slicesOf, slice.service, id);
      for (const e of slice.endpoints) DnsObjects.add(this.endpointIPIndex, e.address, id);
    } else this.slices.delete(id);
  }

  private setPod(key: string, pod: { namespace: string; ips: string[] } | undefined): void {
    const old = this.pods.get(key);
    if (old) {
      this.useNamespace(old.namespace, -1);
      for (const ip of old.ips) DnsObjects.remove(this.podIPIndex, ip, key);
    }
    if (pod) {
      this.pods.set(key, pod);
      this.useNamespace(pod.namespace, +1);
      for (const ip of pod.ips) DnsObjects.add(this.podIPIndex, ip, key);
    } else this.pods.delete(key);
  }
}
