// The objects the DNS tests serve (through a manifests directory and through the API
// server alike), and the answers the Kubernetes DNS specification gives for them, worked
// out by hand. Addresses follow DESIGN.md's plan; the Service VIPs sit in the test API
// server's Service CIDRs (198.19.0.0/17, 2001:db8:19::/112).

const slice = (svc: string, name: string, addressType: string, ports: object[], endpoints: object[], namespace = 'default') => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace, labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
  addressType,
  ports,
  endpoints,
});
const ep = (ip: string, opts: { hostname?: string; ready?: boolean; pod?: string } = {}) => ({
  addresses: [ip],
  conditions: { ready: opts.ready ?? true },
  ...(opts.hostname ? { hostname: opts.hostname } : {}),
  ...(opts.pod ? { targetRef: { kind: 'Pod', namespace: 'default', name: opts.pod } } : {}),
});

export const BIG_ENDPOINTS = 40;

export const DNS_OBJECTS: object[] = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'dns-empty' } },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      clusterIP: '198.19.2.10', clusterIPs: ['198.19.2.10'], ipFamilies: ['IPv4'],
      ports: [
        { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
        { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
      ],
    },
  },
  slice('web', 'web-abc12', 'IPv4', [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }], [
    ep('198.18.2.2', { pod: 'web-1' }),
    ep('198.18.2.3', { pod: 'web-2', ready: false }),
  ]),
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'dual', namespace: 'dns-a' },
    spec: {
      clusterIP: '198.19.2.11', clusterIPs: ['198.19.2.11', '2001:db8:19::11'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack',
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'db', namespace: 'default' },
    spec: { clusterIP: 'None', clusterIPs: ['None'], ports: [{ name: 'pg', port: 5432, targetPort: 5432, protocol: 'TCP' }] },
  },
  slice('db', 'db-abc12', 'IPv4', [{ name: 'pg', port: 5432, protocol: 'TCP' }], [
    ep('198.18.2.20', { hostname: 'db-0' }),
    ep('198.18.2.21'),
    ep('198.18.2.22', { hostname: 'db-2', ready: false }),
  ]),
  slice('db', 'db-v6', 'IPv6', [{ name: 'pg', port: 5432, protocol: 'TCP' }], [ep('2001:db8:18::20', { hostname: 'db-0' })]),
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'db.example.test' } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext-in', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' } },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'big', namespace: 'default' },
    spec: { clusterIP: 'None', clusterIPs: ['None'], ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }] },
  },
  slice('big', 'big-abc12', 'IPv4', [{ name: 'http', port: 80, protocol: 'TCP' }], Array.from({ length: BIG_ENDPOINTS }, (_, i) => ep(`198.18.3.${i + 1}`))),
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'default' },
    spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
    status: { phase: 'Running', podIP: '198.18.2.2', podIPs: [{ ip: '198.18.2.2' }] },
  },
];

/** The test upstream's one name (a CoreDNS `hosts` block), for ExternalName and forwarding. */
export const UPSTREAM_HOSTS = [
  ['198.18.9.9', 'db.example.test'],
  ['2001:db8:9::9', 'db.example.test'],
];

/** ip6.arpa name of an IPv6 address, written out independently of the code under test. */
export function ip6arpa(ip: string): string {
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => g.padStart(4, '0'));
  return `${[...groups.join('')].reverse().join('.')}.ip6.arpa`;
}

export interface Expected {
  name: string;
  type: string;
  rcode: 'NOERROR' | 'NXDOMAIN';
  /** Answer records as `owner TYPE rdata` (dig's text: names and rdata in lower case, no TTL). */
  answers: string[];
  additionals?: string[];
}

/** An empty answer carries its zone's SOA, as dig.ts reads it (serial masked, rdata lower case): RFC 2308. */
export function soaOf(name: string): string {
  const zone = ['in-addr.arpa.', 'ip6.arpa.'].find((z) => name.endsWith(`.${z}`)) ?? 'cluster.local.';
  return `${zone} SOA ns.dns.${zone} hostmaster.${zone} serial 7200 1800 86400 5`;
}

const web = 'web.default.svc.cluster.local.';
const db = 'db.default.svc.cluster.local.';

export const EXPECTED: Expected[] = [
  // ClusterIP, dual-stack
  { name: web, type: 'A', rcode: 'NOERROR', answers: [`${web} A 198.19.2.10`] },
  { name: web, type: 'AAAA', rcode: 'NOERROR', answers: [] },
  { name: 'dual.dns-a.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['dual.dns-a.svc.cluster.local. A 198.19.2.11'] },
  { name: 'dual.dns-a.svc.cluster.local.', type: 'AAAA', rcode: 'NOERROR', answers: ['dual.dns-a.svc.cluster.local. AAAA 2001:db8:19::11'] },
  // Headless: ready endpoints only; hostnames; dashed-IP names
  { name: db, type: 'A', rcode: 'NOERROR', answers: [`${db} A 198.18.2.20`, `${db} A 198.18.2.21`] },
  { name: db, type: 'AAAA', rcode: 'NOERROR', answers: [`${db} AAAA 2001:db8:18::20`] },
  { name: `db-0.${db}`, type: 'A', rcode: 'NOERROR', answers: [`db-0.${db} A 198.18.2.20`] },
  { name: `db-0.${db}`, type: 'AAAA', rcode: 'NOERROR', answers: [`db-0.${db} AAAA 2001:db8:18::20`] },
  { name: `198-18-2-21.${db}`, type: 'A', rcode: 'NOERROR', answers: [`198-18-2-21.${db} A 198.18.2.21`] },
  { name: `db-2.${db}`, type: 'A', rcode: 'NXDOMAIN', answers: [] },
  { name: `198-18-2-2.${web}`, type: 'A', rcode: 'NOERROR', answers: [`198-18-2-2.${web} A 198.18.2.2`] },
  // SRV: the Service's ports (ClusterIP) or the endpoints' (headless); weight 100/N
  { name: `_http._tcp.${web}`, type: 'SRV', rcode: 'NOERROR', answers: [`_http._tcp.${web} SRV 0 100 80 ${web}`], additionals: [`${web} A 198.19.2.10`] },
  { name: `_dns._udp.${web}`, type: 'SRV', rcode: 'NOERROR', answers: [`_dns._udp.${web} SRV 0 100 53 ${web}`], additionals: [`${web} A 198.19.2.10`] },
  { name: web, type: 'SRV', rcode: 'NOERROR', answers: [`${web} SRV 0 50 80 ${web}`, `${web} SRV 0 50 53 ${web}`], additionals: [`${web} A 198.19.2.10`] },
  {
    name: `_pg._tcp.${db}`,
    type: 'SRV',
    rcode: 'NOERROR',
    answers: [`_pg._tcp.${db} SRV 0 33 5432 db-0.${db}`, `_pg._tcp.${db} SRV 0 33 5432 198-18-2-21.${db}`],
    additionals: [`db-0.${db} A 198.18.2.20`, `198-18-2-21.${db} A 198.18.2.21`, `db-0.${db} AAAA 2001:db8:18::20`],
  },
  { name: `_http._tcp.${db}`, type: 'SRV', rcode: 'NXDOMAIN', answers: [] },
  // ExternalName: CNAME, chased in the zone and through the upstream
  { name: 'ext.default.svc.cluster.local.', type: 'CNAME', rcode: 'NOERROR', answers: ['ext.default.svc.cluster.local. CNAME db.example.test.'] },
  { name: 'ext.default.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['ext.default.svc.cluster.local. CNAME db.example.test.', 'db.example.test. A 198.18.9.9'] },
  { name: 'ext-in.default.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: [`ext-in.default.svc.cluster.local. CNAME ${web}`, `${web} A 198.19.2.10`] },
  // Pods (--dns-pods insecure, the default)
  { name: '198-18-2-2.default.pod.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['198-18-2-2.default.pod.cluster.local. A 198.18.2.2'] },
  { name: '2001-db8-18--20.default.pod.cluster.local.', type: 'AAAA', rcode: 'NOERROR', answers: ['2001-db8-18--20.default.pod.cluster.local. AAAA 2001:db8:18::20'] },
  { name: '198-18-2-2.nosuch.pod.cluster.local.', type: 'A', rcode: 'NXDOMAIN', answers: [] },
  // dns-version, PTR
  { name: 'dns-version.cluster.local.', type: 'TXT', rcode: 'NOERROR', answers: ['dns-version.cluster.local. TXT "1.1.0"'] },
  { name: '10.2.19.198.in-addr.arpa.', type: 'PTR', rcode: 'NOERROR', answers: [`10.2.19.198.in-addr.arpa. PTR ${web}`] },
  { name: '20.2.18.198.in-addr.arpa.', type: 'PTR', rcode: 'NOERROR', answers: [`20.2.18.198.in-addr.arpa. PTR db-0.${db}`] },
  { name: '2.2.18.198.in-addr.arpa.', type: 'PTR', rcode: 'NOERROR', answers: [`2.2.18.198.in-addr.arpa. PTR 198-18-2-2.${web}`] },
  { name: '3.2.18.198.in-addr.arpa.', type: 'PTR', rcode: 'NXDOMAIN', answers: [] },
  { name: `${ip6arpa('2001:db8:19::11')}.`, type: 'PTR', rcode: 'NOERROR', answers: [`${ip6arpa('2001:db8:19::11')}. PTR dual.dns-a.svc.cluster.local.`] },
  // NXDOMAIN vs NODATA
  { name: 'nosuch.default.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', answers: [] },
  { name: 'nosuchns.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', answers: [] },
  { name: 'dns-empty.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: [] },
  { name: web, type: 'TXT', rcode: 'NOERROR', answers: [] },
  { name: 'nosuch.cluster.local.', type: 'A', rcode: 'NXDOMAIN', answers: [] },
];

/** Further queries for the CoreDNS differential (corners where only the peer is the reference). */
export const DIFFERENTIAL_ONLY: Array<[string, string]> = [
  ['cluster.local.', 'TXT'],
  ['cluster.local.', 'A'],
  ['cluster.local.', 'SOA'],
  ['svc.cluster.local.', 'A'],
  ['nosuch.default.svc.cluster.local.', 'SOA'],
  ['dns-empty.svc.cluster.local.', 'TXT'],
  [web, 'MX'],
  [web, 'CNAME'],
  [web, 'PTR'],
  [`_._udp.${web}`, 'SRV'],
  [`a.b.c.${web}`, 'A'],
  ['_http._tcp.dual.dns-a.svc.cluster.local.', 'SRV'],
  ['ext.default.svc.cluster.local.', 'SRV'],
  ['ext.default.svc.cluster.local.', 'TXT'],
  ['ext.default.svc.cluster.local.', 'AAAA'],
  ['dns-version.in-addr.arpa.', 'TXT'],
  ['in-addr.arpa.', 'A'],
  ['2.18.198.in-addr.arpa.', 'PTR'],
  ['198-18-2-2.dns-empty.pod.cluster.local.', 'A'],
  ['198-18-2-2.default.pod.cluster.local.', 'AAAA'],
  ['dns-empty.pod.cluster.local.', 'A'],
  ['big.default.svc.cluster.local.', 'A'],
  [`_pg._tcp.db-0.${db}`, 'SRV'],
  ['db.example.test.', 'A'],
];
