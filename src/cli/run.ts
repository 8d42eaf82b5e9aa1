// `bpfproxy run`: source → proxier (change tracker) → backend, plus /healthz and /metrics.
// Stopping (SIGTERM/SIGINT) leaves the data plane programmed, as kube-proxy does: a
// restarted proxy adopts it, so traffic does not notice the restart.
import type { Logger } from 'pino';
import { createBackend } from '../backends/factory.js';
import { createMetrics } from '../metrics/metrics.js';
import { parseBind, startHealthz, startMetrics } from '../proxier/http-endpoints.js';
import { Proxier } from '../proxier/proxier.js';
import { ManifestsSource } from '../sources/manifests.js';
import type { CliOptions } from './options.js';

export async function runCommand(opts: CliOptions, log: Logger): Promise<number> {
  const metrics = createMetrics();
  const backend = await createBackend(opts.backend, { ...opts.backendConfig, logger: log, metrics });
  if (opts.cleanup) {
    await backend.cleanup();
    log.info({ backend: opts.backend }, 'cleanup done');
    return 0;
  }
  if (!opts.manifests) {
    log.error('no source: pass --manifests DIR (the Kubernetes API source is not built yet)');
    return 2;
  }
  const proxier = new Proxier(backend, opts, log.child({ component: 'proxier' }), metrics);
  const source = new ManifestsSource(opts.manifests);
  await source.start({
    onEvent: (ev) => {
      log.debug({ type: ev.type, kind: ev.kind, key: ev.key, file: ev.source }, 'object event');
      proxier.onEvent(ev);
    },
    onProblem: (p) => log.warn({ file: p.source, object: p.object, field: p.field }, `skipped: ${p.message}`),
  });
  proxier.start();
  const servers = [];
  const hz = parseBind(opts.healthzBind, '--healthz-bind-address');
  if (hz) servers.push(startHealthz(hz, () => ({ lastSyncAt: proxier.lastSyncAt, staleAfterMs: 2 * opts.syncPeriodMs })));
  const mb = parseBind(opts.metricsBind, '--metrics-bind-address');
  if (mb) servers.push(startMetrics(mb, metrics.registry));
  for (const s of servers) s.on('error', (e) => log.error({ err: e }, 'http endpoint failed'));
  log.info({ backend: opts.backend, manifests: opts.manifests, node: opts.nodeName }, 'bpfproxy started');

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('stopping; the data plane stays programmed');
  await proxier.stop(); // no sync starts after this; one in flight completes
  await source.stop();
  await backend.close?.();
  for (const s of servers) s.close();
  return 0;
}
