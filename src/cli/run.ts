// `bpfproxy run`: source → proxier (change tracker) → backend, plus /healthz, /livez and
// /metrics, and cluster DNS (--dns-bind-address) from the same events. The source is a
// manifests directory or the Kubernetes API; with the API the first sync waits until every
// informer has listed, as kube-proxy waits for its caches (a sync before that would
// program Services without their endpoints).
// Stopping (SIGTERM/SIGINT) stops the watches and leaves the data plane programmed, as
// kube-proxy does: a restarted proxy adopts it, so traffic does not notice the restart.
import type { Logger } from 'pino';
import { createBackend } from '../backends/factory.js';
import { createMetrics } from '../metrics/metrics.js';
import { parseBind, startHealthz, startMetrics } from '../proxier/http-endpoints.js';
import { Proxier } from '../proxier/proxier.js';
import { ServiceHealthServers } from '../proxier/service-health.js';
import { loadKubeConfig } from '../sources/kubeconfig.js';
import { KubernetesSource } from '../sources/kubernetes.js';
import { ManifestsSource } from '../sources/manifests.js';
import { ProxiedFilter } from '../sources/proxied-filter.js';
import { DnsThread } from '../dns/dns-thread.js';
import type { Source } from '../sources/types.js';
import type { CliOptions } from './options.js';

export async function runCommand(opts: CliOptions, log: Logger): Promise<number> {
  const metrics = createMetrics();
  let source: Source | undefined;
  if (!opts.cleanup) {
    // Before the backend touches the kernel: a bad --kubeconfig is a usage error (exit 2).
    try {
      source = opts.manifests
        ? new ManifestsSource(opts.manifests)
        : new KubernetesSource(
            loadKubeConfig(opts),
            {
              nodeName: opts.nodeName,
              serviceProxyName: opts.serviceProxyName,
              onRestart: (resource) => metrics.informerRestarts.inc({ resource }),
              onStale: (resource) => metrics.informerStale.inc({ resource }),
              dns: opts.dns && { pods: opts.dns.pods === 'verified' },
            },
            log.child({ component: 'kubernetes' }),
          );
    } catch (e) {
      log.error((e as Error).message);
      return 2;
    }
  }
  const backend = await createBackend(opts.backend, { ...opts.backendConfig, logger: log, metrics });
  if (opts.cleanup || !source) {
    await backend.cleanup();
    log.info({ backend: opts.backend }, 'cleanup done');
    return 0;
  }
  let stopRequested = false;
  const stopping = new Promise<void>((resolve) => {
    const stop = () => {
      stopRequested = true;
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  // Cluster DNS answers from its own thread, fed the same events as the proxier.
  let dns: DnsThread | undefined;
  if (opts.dns) {
    try {
      dns = await DnsThread.start({ ...opts.dns, implicitNamespaces: !!opts.manifests, logLevel: log.level }, log, (c) => {
        metrics.dns.totals = c;
      });
    } catch (e) {
      log.error((e as Error).message);
      await backend.close?.();
      return 1;
    }
  }
  // The API source watches every Service for DNS; the proxier still sees only its own.
  const proxied = opts.dns && !opts.manifests ? new ProxiedFilter(opts.serviceProxyName) : undefined;
  const serviceHealth = new ServiceHealthServers(log.child({ component: 'service-health' }));
  const proxier = new Proxier(backend, { ...opts, serviceHealth }, log.child({ component: 'proxier' }), metrics);
  const servers = [];
  const hz = parseBind(opts.healthzBind, '--healthz-bind-address');
  if (hz) servers.push(startHealthz(hz, () => ({ lastSyncAt: proxier.lastSyncAt, oldestPendingAt: proxier.oldestPendingAt, staleAfterMs: 2 * opts.syncPeriodMs })));
  const mb = parseBind(opts.metricsBind, '--metrics-bind-address');
  if (mb) servers.push(startMetrics(mb, metrics.registry));
  for (const s of servers) s.on('error', (e) => log.error({ err: e }, 'http endpoint failed'));

  const started = source
    .start({
      onEvent: (ev) => {
        log.debug({ type: ev.type, kind: ev.kind, key: ev.key, file: ev.source }, 'object event');
        dns?.onEvent(ev);
        const forProxier = proxied ? proxied.filter(ev) : ev;
        if (forProxier) proxier.onEvent(forProxier);
      },
      onProblem: (p) => log.warn({ file: p.source, object: p.object, field: p.field }, `skipped: ${p.message}`),
    })
    .then(() => {
      // Stopped while still listing: the caches are partial, so nothing is programmed.
      if (stopRequested) return;
      dns?.synced();
      proxier.start();
      log.info({ backend: opts.backend, source: opts.manifests ?? 'kubernetes', node: opts.nodeName }, 'bpfproxy started');
    });
  await Promise.race([started, stopping]);
  await stopping;
  log.info('stopping; the data plane stays programmed');
  await source.stop(); // no more events
  await proxier.stop(); // no sync starts after this; one in flight completes
  await dns?.stop();
  await backend.close?.();
  for (const s of servers) s.close();
  serviceHealth.close();
  return 0;
}
