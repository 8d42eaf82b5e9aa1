// The Services the data-plane bench installs, written through the real API server (every
// proxy, ours and kube-proxy, reads the same objects the same way). Fillers carry 10
// endpoints each (addresses nothing answers on; the measured service is the only one used);
// the measured service of each scale is created after its fillers: the last one installed,
// and named to sort after them (zz-measured-*): our iptables backend writes KUBE-SERVICES in
// name order, so its jump is the last rule a new connection meets there (kube-proxy's order
// is its Go map's, different on every sync).
import type { TestCluster } from '../../test/cluster/cluster.js';
import { endpointSlice, node, service } from '../../test/harness/manifests.js';

export const ENDPOINTS_PER_SERVICE = 10;
export const POD = '198.18.1.2';
export const CLIENT = '198.18.1.100';
export const HTTP_PORT = 9376;
export const IPERF_PORT = 5201;
const CONCURRENCY = 16;

/** Filler i's VIP: 198.19.2.0 onwards (DESIGN.md: Service VIPs are 198.19.0.0/17). */
const fillerVip = (i: number) => `198.19.${2 + (i >> 8)}.${i & 255}`;
/** Measured service of scale step k and added service k: their own /24s. */
const measuredVip = (k: number) => `198.19.1.${171 + k}`;
const addedVip = (k: number) => `198.19.126.${1 + k}`;
export const MAX_FILLERS = (126 - 2) * 256;

async function post(cluster: TestCluster, o: object): Promise<void> {
  const m = o as { apiVersion: string; kind: string; metadata: { name: string } };
  const base = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
  const plural = m.kind === 'Node' ? 'nodes' : `namespaces/default/${m.kind.toLowerCase()}s`;
  const r = await cluster.request('POST', `${base}/${plural}`, o);
  if (r.status !== 201) throw new Error(`create ${m.kind} ${m.metadata.name}: ${r.status} ${r.text.slice(0, 300)}`);
}

function fillerSlice(i: number, gen = 0, trigger?: string): object {
  const s = endpointSlice(
    `filler-${i}`,
    [{ port: 8080 }],
    Array.from({ length: ENDPOINTS_PER_SERVICE }, (_, j) => ({ ip: `198.18.${20 + ((i + gen) % 200)}.${1 + j}`, pod: `f${j}`, node: 'node-a' })),
  ) as { metadata: { annotations?: Record<string, string> } };
  if (trigger) s.metadata.annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': trigger };
  return s;
}

const fillerService = (i: number) => service({ name: `filler-${i}`, clusterIP: fillerVip(i), ports: [{ port: 80, targetPort: 8080 }] });
const measuredService = (name: string, vip: string) => service({ name, clusterIP: vip, ports: [{ name: 'http', port: 80, targetPort: HTTP_PORT }, { name: 'iperf', port: IPERF_PORT, targetPort: IPERF_PORT }] });
const measuredSlice = (name: string) => endpointSlice(name, [{ name: 'http', port: HTTP_PORT }, { name: 'iperf', port: IPERF_PORT }], [{ ip: POD, pod: 'srv', node: 'node-a' }]);

/**
 * The same `n` services as growTo installs (n - 1 fillers, then the measured one) and the
 * Node, as the objects of one manifests List: for the largest scale, where the API server
 * here takes minutes to create them (20k more took 419 s, against 42 s for the first 10k).
 */
export function manifestObjects(n: number, nodeAddress: string): { objects: object[]; vip: string } {
  if (n - 1 > MAX_FILLERS) throw new Error(`${n} services do not fit the filler VIP range (${MAX_FILLERS})`);
  const vip = measuredVip(50);
  const objects: object[] = [node('node-a', nodeAddress, '198.18.1.0/24')];
  for (let i = 0; i < n - 1; i++) objects.push(fillerService(i), fillerSlice(i));
  objects.push(measuredService('zz-measured-large', vip), measuredSlice('zz-measured-large'));
  return { objects, vip };
}

export class ServiceLoad {
  /** Services installed so far (fillers, measured, added). */
  total = 0;
  private fillers = 0;
  private measured = 0;
  private added = 0;
  private gen = 0;

  constructor(private readonly cluster: TestCluster) {}

  async init(nodeAddress: string): Promise<void> {
    await post(this.cluster, node('node-a', nodeAddress, '198.18.1.0/24'));
  }

  /** Fillers until `n - 1` services exist, then a new measured service (returned: its VIP). */
  async growTo(n: number): Promise<string> {
    const want = n - 1 - this.total;
    if (this.fillers + want > MAX_FILLERS) throw new Error(`${n} services do not fit the filler VIP range (${MAX_FILLERS})`);
    let next = this.fillers;
    const end = this.fillers + Math.max(0, want);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < end; i = next++) {
          await post(this.cluster, fillerService(i));
          await post(this.cluster, fillerSlice(i));
        }
      }),
    );
    this.total += end - this.fillers;
    this.fillers = end;
    const k = this.measured++;
    const name = `zz-measured-${k}`;
    const vip = measuredVip(k);
    await post(this.cluster, measuredService(name, vip));
    await post(this.cluster, measuredSlice(name));
    this.total += 1;
    return vip;
  }

  /** One endpoint of one filler replaced, stamped with the trigger time just before the write. */
  async changeEndpoint(): Promise<void> {
    const g = ++this.gen;
    const i = (g * 7919) % this.fillers;
    const r = await this.cluster.request('PUT', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/filler-${i}-abc12`, fillerSlice(i, g, new Date().toISOString()));
    if (r.status !== 200) throw new Error(`update EndpointSlice filler-${i}-abc12: ${r.status} ${r.text.slice(0, 300)}`);
  }

  /** One new Service and its slice, the slice stamped with the time before the Service was written. */
  async addService(): Promise<void> {
    const k = this.added++;
    if (k > 250) throw new Error('added-service VIP range exhausted');
    const stamp = new Date().toISOString();
    const name = `added-${k}`;
    await post(this.cluster, service({ name, clusterIP: addedVip(k), ports: [{ port: 80, targetPort: 8080 }] }));
    const s = endpointSlice(name, [{ port: 8080 }], [{ ip: `198.18.19.${1 + (k % 250)}`, pod: 'a', node: 'node-a' }]) as { metadata: { annotations?: Record<string, string> } };
    s.metadata.annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': stamp };
    await post(this.cluster, s);
    this.total += 1;
  }
}
