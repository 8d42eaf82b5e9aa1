// healthCheckNodePort: a LoadBalancer Service with externalTrafficPolicy Local gets an
// HTTP server on that port on every node. Cloud load balancers probe it to send traffic
// only to nodes with a local endpoint. As kube-proxy answers it: 200 with the count of
// this node's ready endpoints when there is one, 503 otherwise, JSON either way.
// Shared by every backend: the proxier updates it after each sync.
import { type Server, createServer } from 'node:http';
import type { Logger } from 'pino';
import type { ServiceTable } from '../model/types.js';
import { sendJson } from './http-endpoints.js';

export interface HealthCheckService {
  namespace: string;
  name: string;
  /** Distinct ready endpoints of the Service on this node, over all its ports. */
  localEndpoints: number;
}

/** healthCheckNodePort → what its server answers, from the table. */
export function healthCheckServices(table: ServiceTable): Map<number, HealthCheckService> {
  const out = new Map<number, HealthCheckService>();
  const local = new Map<number, Set<string>>();
  for (const e of table.services.values()) {
    if (e.healthCheckNodePort === 0 || e.externalTrafficPolicy !== 'Local') continue;
    const port = e.healthCheckNodePort;
    if (!out.has(port)) {
      out.set(port, { namespace: e.name.namespace, name: e.name.name, localEndpoints: 0 });
      local.set(port, new Set());
    }
    for (const ep of e.endpoints) if (ep.ready && ep.nodeName === table.nodeName) local.get(port)!.add(ep.ip);
  }
  for (const [port, s] of out) s.localEndpoints = local.get(port)!.size;
  return out;
}

/** The response status and body for one Service (kube-proxy's shape). */
export function healthCheckResponse(s: HealthCheckService): { status: number; body: object } {
  return {
    status: s.localEndpoints > 0 ? 200 : 503,
    body: { service: { namespace: s.namespace, name: s.name }, localEndpoints: s.localEndpoints, serviceProxyHealthy: true },
  };
}

export class ServiceHealthServers {
  private readonly servers = new Map<number, { server: Server; svc: HealthCheckService }>();

  constructor(
    private readonly log: Logger,
    /** Where to listen (kube-proxy: the --nodeport-addresses' node IPs; default all). */
    private readonly host = '0.0.0.0',
  ) {}

  /** Opens servers for new ports, closes those of gone Services, updates the counts. */
  update(table: ServiceTable): void {
    const want = healthCheckServices(table);
    for (const [port, entry] of this.servers) {
      if (want.has(port)) continue;
      entry.server.close();
      this.servers.delete(port);
    }
    for (const [port, svc] of want) {
      const have = this.servers.get(port);
      if (have) {
        have.svc = svc;
        continue;
      }
      const entry = {
        svc,
        server: createServer((_req, res) => {
          const r = healthCheckResponse(entry.svc);
          sendJson(res, r.status, r.body);
        }),
      };
      entry.server.on('error', (e) => {
        // Port taken (or similar): forget it, so the next sync tries again.
        this.log.error({ err: e, port, service: `${svc.namespace}/${svc.name}` }, 'health check node port server failed');
        if (this.servers.get(port) === entry) this.servers.delete(port);
      });
      entry.server.listen(port, this.host);
      this.servers.set(port, entry);
    }
  }

  close(): void {
    for (const { server } of this.servers.values()) server.close();
    this.servers.clear();
  }
}
