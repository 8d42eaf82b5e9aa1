// Kubernetes objects → ServiceTable. Pure: the same objects always give the same table.
// A bad object yields an InputProblem naming object and field and is skipped; it never
// aborts the build, so one typo cannot take down every other service.
import type { V1EndpointSlice, V1Node, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { servicePortKey, servicePortNameString } from './service-port-name.js';
import type { Endpoint, InputProblem, NodeInfo, ServicePortEntry, ServiceTable, SessionAffinity } from './types.js';
import { annotatedLbAlgorithm } from './lb-algorithm.js';
import { FieldError, ipFamily, requireCIDR, requireIP, requireName, requirePort, requireProtocol } from './validate.js';

/** An object plus where it came from (file path or "api"), for located error messages. */
export interface Sourced<T> {
  obj: T;
  source: string;
}

export interface ClusterObjects {
  services: Sourced<V1Service>[];
  endpointSlices: Sourced<V1EndpointSlice>[];
  nodes: Sourced<V1Node>[];
}

export interface BuildOptions {
  nodeName: string;
  /** The previous build's last-good state: an object that turns invalid keeps its last valid version. */
  lastGood?: LastGood;
  /** Value of --service-proxy-name: services whose label differs are ignored (kube-proxy semantics). */
  serviceProxyName?: string;
}

export interface BuildResult {
  table: ServiceTable;
  problems: InputProblem[];
  /** Pass to the next build as opts.lastGood. */
  lastGood: LastGood;
}

/**
 * The last valid form of each Service and EndpointSlice, by `ns/name`. When an edit makes
 * an object invalid, the proxy keeps programming its last valid form (nothing already
 * programmed is lost) and reports the problem; deleting the object removes it.
 */
export interface LastGood {
  services: ReadonlyMap<string, ServicePortEntry[]>;
  slices: ReadonlyMap<string, { service: string; slice: ParsedSlice }>;
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const PROXY_NAME_LABEL = 'service.kubernetes.io/service-proxy-name';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';
const DEFAULT_AFFINITY_TIMEOUT = 10800;

export function buildServiceTable(objs: ClusterObjects, opts: BuildOptions): BuildResult {
  const problems: InputProblem[] = [];
  const goodSlices = new Map<string, { service: string; slice: ParsedSlice }>();
  const slicesBySvc = groupSlices(objs.endpointSlices, problems, opts.lastGood?.slices, goodSlices);
  const services = new Map<string, ServicePortEntry>();
  const goodServices = new Map<string, ServicePortEntry[]>();
  for (const s of objs.services) {
    const id = objectId(s.obj.metadata);
    let entries = serviceEntries(s, slicesBySvc.get(id) ?? [], opts, problems);
    if (entries === undefined) entries = opts.lastGood?.services.get(id);
    if (entries === undefined) continue;
    goodServices.set(id, entries);
    for (const entry of entries) services.set(entry.key, entry);
  }
  const nodes = new Map<string, NodeInfo>();
  for (const n of objs.nodes) {
    const info = nodeInfo(n, problems);
    if (info) nodes.set(info.name, info);
  }
  return {
    table: { services, nodeName: opts.nodeName, nodes },
    problems,
    lastGood: { services: goodServices, slices: goodSlices },
  };
}

export function objectId(meta: { namespace?: string; name?: string } | undefined): string {
  return `${meta?.namespace ?? 'default'}/${meta?.name ?? ''}`;
}

export function describeObj(kind: string, meta: { namespace?: string; name?: string } | undefined): string {
  return `${kind} ${meta?.namespace ?? 'default'}/${meta?.name ?? '?'}`;
}

export function problem(source: string, object: string, e: unknown): InputProblem {
  if (e instanceof FieldError) return { source, object, field: e.field, message: e.message };
  return { source, object, field: '', message: e instanceof Error ? e.message : String(e) };
}

// ---------------------------------------------------------------- EndpointSlices

interface SlicePort {
  name: string;
  port: number;
  protocol: string;
}
export interface ParsedSlice {
  ports: SlicePort[];
  endpoints: Omit<Endpoint, 'port'>[];
}

function groupSlices(
  slices: Sourced<V1EndpointSlice>[],
  problems: InputProblem[],
  lastGood: LastGood['slices'] | undefined,
  good: Map<string, { service: string; slice: ParsedSlice }>,
): Map<string, ParsedSlice[]> {
  const out = new Map<string, ParsedSlice[]>();
  for (const { obj, source } of slices) {
    const id = objectId(obj.metadata);
    let parsed: { service: string; slice: ParsedSlice } | undefined;
    try {
      parsed = parseSlice(obj);
    } catch (e) {
      problems.push(problem(source, describeObj('EndpointSlice', obj.metadata), e));
      parsed = lastGood?.get(id);
    }
    if (!parsed) continue;
    good.set(id, parsed);
    const key = sliceServiceId(obj, parsed.service);
    const list = out.get(key) ?? [];
    list.push(parsed.slice);
    out.set(key, list);
  }
  return out;
}

/** `ns/name` of the Service a slice belongs to. */
export function sliceServiceId(obj: V1EndpointSlice, service: string): string {
  return `${obj.metadata?.namespace ?? 'default'}/${service}`;
}

export function parseSlice(obj: V1EndpointSlice): { service: string; slice: ParsedSlice } | undefined {
  requireName(obj.metadata?.name, 'metadata.name');
  const service = obj.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!service) throw new FieldError(`metadata.labels["${SERVICE_NAME_LABEL}"]`, 'missing: the slice names no Service');
  if (obj.addressType === 'FQDN') return undefined; // kube-proxy ignores FQDN slices
  if (obj.addressType !== 'IPv4' && obj.addressType !== 'IPv6') {
    throw new FieldError('addressType', `unknown addressType ${JSON.stringify(obj.addressType)}`);
  }
  const want = obj.addressType === 'IPv4' ? 4 : 6;
  const ports = (obj.ports ?? []).map((p, i) => ({
    name: p.name ?? '',
    port: requirePort(p.port, `ports[${i}].port`),
    protocol: requireProtocol(p.protocol, `ports[${i}].protocol`),
  }));
  const endpoints = (obj.endpoints ?? []).map((e, i) => {
    const ip = requireIP(e.addresses?.[0], `endpoints[${i}].addresses[0]`);
    if (ipFamily(ip) !== want) throw new FieldError(`endpoints[${i}].addresses[0]`, `${ip} is not an ${obj.addressType} address`);
    // Nil conditions mean "ready" (API contract); serving defaults to ready.
    const ready = e.conditions?.ready ?? true;
    const ep: Omit<Endpoint, 'port'> = {
      ip,
      ready,
      serving: e.conditions?.serving ?? ready,
      terminating: e.conditions?.terminating ?? false,
    };
    if (e.nodeName) ep.nodeName = e.nodeName;
    if (e.zone) ep.zone = e.zone;
    const zoneHints = (e.hints?.forZones ?? []).map((z) => z.name);
    const nodeHints = (e.hints?.forNodes ?? []).map((n) => n.name);
    if (zoneHints.length > 0) ep.zoneHints = zoneHints;
    if (nodeHints.length > 0) ep.nodeHints = nodeHints;
    if (e.hostname) ep.hostname = e.hostname;
    if (e.targetRef?.kind === 'Pod' && e.targetRef.name) ep.podName = e.targetRef.name;
    return ep;
  });
  return { service, slice: { ports, endpoints } };
}

// ---------------------------------------------------------------- Services

/** kube-proxy's label selector: labelled for this proxy (service-proxy-name) and not headless. */
export function proxiedLabels(labels: Record<string, string> | undefined, serviceProxyName?: string): boolean {
  const l = labels ?? {};
  return !(HEADLESS_LABEL in l) && (l[PROXY_NAME_LABEL] ?? '') === (serviceProxyName ?? '');
}

function isProxied(svc: V1Service, opts: BuildOptions): boolean {
  if (!proxiedLabels(svc.metadata?.labels, opts.serviceProxyName)) return false;
  if (svc.spec?.type === 'ExternalName') return false;
  const ip = svc.spec?.clusterIP;
  if (ip === 'None') return false; // headless: DNS only
  return true;
}

const SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';

/**
 * spec.loadBalancerSourceRanges, else the older annotation (comma-separated), as kube-proxy
 * reads them. A bad entry makes the Service invalid rather than being dropped: dropping the
 * only entry would open the load balancer to everyone.
 */
function sourceRanges(svc: V1Service): string[] {
  const field = svc.spec?.loadBalancerSourceRanges ?? [];
  if (field.length > 0) return field.map((c, i) => requireCIDR(c.trim(), `spec.loadBalancerSourceRanges[${i}]`));
  const annotation = svc.metadata?.annotations?.[SOURCE_RANGES_ANNOTATION];
  if (!annotation) return [];
  return annotation.split(',').flatMap((c) => (c.trim() ? [requireCIDR(c.trim(), `metadata.annotations["${SOURCE_RANGES_ANNOTATION}"]`)] : []));
}

/** The entries of one Service (none when it is not proxied), or undefined when it is invalid. */
export function serviceEntries(
  { obj: svc, source }: Sourced<V1Service>,
  slices: readonly ParsedSlice[],
  opts: BuildOptions,
  problems: InputProblem[],
): ServicePortEntry[] | undefined {
  const what = describeObj('Service', svc.metadata);
  if (!isProxied(svc, opts)) return [];
  try {
    const namespace = svc.metadata?.namespace ?? 'default';
    const name = requireName(svc.metadata?.name, 'metadata.name');
    const spec = svc.spec ?? {};
    const clusterIPs = (spec.clusterIPs?.length ? spec.clusterIPs : [spec.clusterIP]).map((ip, i) =>
      requireIP(ip, spec.clusterIPs?.length ? `spec.clusterIPs[${i}]` : 'spec.clusterIP'),
    );
    const externalIPs = (spec.externalIPs ?? []).map((ip, i) => requireIP(ip, `spec.externalIPs[${i}]`));
    const loadBalancerIPs =
      spec.type === 'LoadBalancer'
        ? (svc.status?.loadBalancer?.ingress ?? []).flatMap((ing, i) =>
            ing.ip ? [requireIP(ing.ip, `status.loadBalancer.ingress[${i}].ip`)] : [],
          )
        : [];
    const loadBalancerSourceRanges = sourceRanges(svc);
    const sessionAffinity = affinity(svc);
    const externalTrafficPolicy = policy(spec.externalTrafficPolicy, 'spec.externalTrafficPolicy');
    const internalTrafficPolicy = policy(spec.internalTrafficPolicy, 'spec.internalTrafficPolicy');
    const ports = spec.ports ?? [];
    if (ports.length === 0) throw new FieldError('spec.ports', 'a proxied Service needs at least one port');
    // A bad value is reported but does not make the Service invalid: it keeps working, with
    // the flag's algorithm (an unknown algorithm is no reason to stop serving it).
    let lbAlgorithm: ReturnType<typeof annotatedLbAlgorithm>;
    try {
      lbAlgorithm = annotatedLbAlgorithm(svc.metadata?.annotations);
    } catch (e) {
      problems.push({ ...problem(source, what, e), kept: true });
    }
    const seen = new Set<string>();
    return ports.map((p, i) => {
      const protocol = requireProtocol(p.protocol, `spec.ports[${i}].protocol`);
      const portName = p.name ?? '';
      if (ports.length > 1 && portName === '') throw new FieldError(`spec.ports[${i}].name`, 'required when a Service has several ports');
      const spn = { namespace, name, port: portName, protocol };
      const key = servicePortKey(spn);
      if (seen.has(key)) throw new FieldError(`spec.ports[${i}]`, `duplicate port ${servicePortNameString(spn)}/${protocol}`);
      seen.add(key);
      const type = spec.type ?? 'ClusterIP';
      const nodePort = type === 'NodePort' || type === 'LoadBalancer' ? requirePort(p.nodePort ?? 0, `spec.ports[${i}].nodePort`, { allowZero: true }) : 0;
      return {
        key,
        name: spn,
        clusterIPs,
        port: requirePort(p.port, `spec.ports[${i}].port`),
        protocol,
        nodePort,
        externalIPs,
        loadBalancerIPs,
        loadBalancerSourceRanges,
        sessionAffinity,
        externalTrafficPolicy,
        internalTrafficPolicy,
        healthCheckNodePort: spec.healthCheckNodePort ?? 0,
        endpoints: endpointsFor(p, slices),
        ...(lbAlgorithm ? { lbAlgorithm } : {}),
      };
    });
  } catch (e) {
    problems.push(problem(source, what, e));
    return undefined;
  }
}

function affinity(svc: V1Service): SessionAffinity {
  const type = svc.spec?.sessionAffinity ?? 'None';
  if (type === 'None') return { type: 'None' };
  if (type !== 'ClientIP') throw new FieldError('spec.sessionAffinity', `unknown sessionAffinity ${JSON.stringify(type)}`);
  const t = svc.spec?.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT;
  if (!Number.isInteger(t) || t < 1 || t > 86400) {
    throw new FieldError('spec.sessionAffinityConfig.clientIP.timeoutSeconds', `invalid timeout ${t} (want 1..86400)`);
  }
  return { type: 'ClientIP', timeoutSeconds: t };
}

function policy(v: string | undefined, field: string): 'Cluster' | 'Local' {
  if (v === undefined || v === 'Cluster') return 'Cluster';
  if (v === 'Local') return 'Local';
  throw new FieldError(field, `unknown traffic policy ${JSON.stringify(v)} (want Cluster or Local)`);
}

/**
 * Endpoints for one Service port. Slices carry the resolved target port under the
 * Service port's name (what the EndpointSlice controller writes); for hand-written
 * slices a port named like a named targetPort is accepted too.
 */
function endpointsFor(p: V1ServicePort, slices: readonly ParsedSlice[]): Endpoint[] {
  const proto = p.protocol ?? 'TCP';
  const byIP = new Map<string, Endpoint>();
  for (const slice of slices) {
    const sp =
      slice.ports.find((x) => x.name === (p.name ?? '') && x.protocol === proto) ??
      (typeof p.targetPort === 'string' ? slice.ports.find((x) => x.name === p.targetPort && x.protocol === proto) : undefined);
    if (!sp) continue;
    for (const ep of slice.endpoints) {
      // The same address listed twice (e.g. in two slices) is one endpoint.
      const id = `${ep.ip}:${sp.port}`;
      if (!byIP.has(id)) byIP.set(id, { ...ep, port: sp.port });
    }
  }
  return [...byIP.values()].sort((a, b) => compareEndpoint(a, b));
}

function compareEndpoint(a: Endpoint, b: Endpoint): number {
  return a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1;
}

// ---------------------------------------------------------------- Nodes

const ZONE_LABEL = 'topology.kubernetes.io/zone';

export function nodeInfo({ obj, source }: Sourced<V1Node>, problems: InputProblem[]): NodeInfo | undefined {
  const what = `Node ${obj.metadata?.name ?? '?'}`;
  try {
    const name = requireName(obj.metadata?.name, 'metadata.name');
    // InternalIPs before ExternalIPs: the first of a family is the node's primary address
    // (kube-proxy's GetNodeHostIPs), which `--nodeport-addresses primary` means.
    const of = (type: string) => (obj.status?.addresses ?? []).flatMap((a, i) => (a.type === type ? [requireIP(a.address, `status.addresses[${i}].address`)] : []));
    const addresses = [...of('InternalIP'), ...of('ExternalIP')];
    const podCIDRs = obj.spec?.podCIDRs ?? (obj.spec?.podCIDR ? [obj.spec.podCIDR] : []);
    const zone = obj.metadata?.labels?.[ZONE_LABEL];
    return { name, addresses, podCIDRs, ...(zone ? { zone } : {}) };
  } catch (e) {
    problems.push(problem(source, what, e));
    return undefined;
  }
}
