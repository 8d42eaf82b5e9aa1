// /healthz and /livez (kube-proxy's contract: 200 while changes get synced in time, 503
// when one waits too long) and /metrics.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export function parseBind(addr: string, flag: string): { host: string; port: number } | undefined {
  if (addr === '' || addr === '0') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`${flag}: want host:port, got ${JSON.stringify(addr)}`);
  return { host: m[1] ?? m[2] ?? '0.0.0.0', port: Number(m[3]) };
}

/** A JSON answer as kube-proxy's health endpoints send it. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
  res.end(JSON.stringify(body));
}

export interface HealthStatus {
  /** Last successful sync (ms since epoch), 0 before the first. */
  lastSyncAt: number;
  /** Oldest change not yet synced (ms since epoch), 0 when none waits. */
  oldestPendingAt: number;
  staleAfterMs: number;
}

/**
 * kube-proxy's health rule: unhealthy when a change has waited longer than staleAfter
 * (2 × --sync-period) without a sync that covers it. Startup counts as such a change, so
 * a proxy that never manages to sync turns unhealthy too.
 */
export function healthy(s: HealthStatus, now: number): boolean {
  return s.oldestPendingAt === 0 || now - s.oldestPendingAt < s.staleAfterMs;
}

/** /healthz and /livez: JSON {lastUpdated, currentTime}, 200 or 503 (kube-proxy's contract). */
export function startHealthz(bind: { host: string; port: number }, status: () => HealthStatus): Server {
  const srv = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404).end();
      return;
    }
    const s = status();
    const now = Date.now();
    const ok = healthy(s, now);
    sendJson(res, ok ? 200 : 503, { lastUpdated: new Date(s.lastSyncAt).toISOString(), currentTime: new Date(now).toISOString() });
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
