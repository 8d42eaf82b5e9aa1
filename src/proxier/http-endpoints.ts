// /healthz (kube-proxy's contract: 200 while syncs are recent, 503 when stale) and /metrics.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export function parseBind(addr: string, flag: string): { host: string; port: number } | undefined {
  if (addr === '' || addr === '0') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`${flag}: want host:port, got ${JSON.stringify(addr)}`);
  return { host: m[1] ?? m[2] ?? '0.0.0.0', port: Number(m[3]) };
}

export function startHealthz(bind: { host: string; port: number }, status: () => { lastSyncAt: number; staleAfterMs: number }): Server {
  const srv = createServer((_req, res) => {
    const { lastSyncAt, staleAfterMs } = status();
    const now = Date.now();
    const healthy = lastSyncAt > 0 && now - lastSyncAt < staleAfterMs;
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ lastUpdated: new Date(lastSyncAt).toISOString(), currentTime: new Date(now).toISOString() }));
  });
  srv.listen(bind.port, bind.host);
  return srv;
}

export function startMetrics(bind: { host: string; port: number }, registry: Registry): Server {
  const srv = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: Error) => res.writeHead(500).end(e.message),
    );
  });
  srv.listen(bind.port, bind.host);
  return srv;
}
