// Prometheus metrics under kube-proxy's names, so existing dashboards keep working.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Kernel-side packet counters (ebpf: dp_stats), read at scrape time. */
export interface DatapathCounters {
  packets: Record<string, number>;
  drops: Record<string, number>;
}

/** Cluster DNS totals, kept by the DNS thread and posted to the main thread every second. */
export interface DnsCounters {
  /** `proto|rcode` → responses sent. */
  responses: Record<string, number>;
  /** proto → answers sent from the answer cache. */
  cacheHits: Record<string, number>;
  /** Messages dropped unanswered (shorter than a header, or a response). */
  dropped: number;
}

export function createMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry });
  /** The DNS thread's latest totals (unset: DNS is off, the DNS metrics have no samples). */
  const dns: { totals?: DnsCounters } = {};
  const fromDns = (set: (c: Counter<string>, t: DnsCounters) => void) =>
    function (this: Counter<string>) {
      this.reset();
      if (dns.totals) set(this, dns.totals);
    };
  /** Set by a backend with kernel counters; unset, the datapath metrics have no samples. */
  const datapath: { read?: () => DatapathCounters | undefined } = {};
  // The kernel keeps the totals: each scrape replaces the samples with its current values.
  const fromKernel = (pick: (c: DatapathCounters) => Record<string, number>, label: string) =>
    function (this: Counter<string>) {
      let c: DatapathCounters | undefined;
      try {
        c = datapath.read?.();
      } catch {
        c = undefined; // no counters this scrape; the other metrics still answer
      }
      this.reset();
      if (c) for (const [k, n] of Object.entries(pick(c))) this.inc({ [label]: k }, n);
    };
  const buckets = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384];
  return {
    registry,
    syncDuration: new Histogram({
      name: 'kubeproxy_sync_proxy_rules_duration_seconds',
      help: 'SyncProxyRules latency in seconds',
      buckets,
      registers: [registry],
    }),
    syncFullDuration: new Histogram({
      name: 'kubeproxy_sync_full_proxy_rules_duration_seconds',
      help: 'SyncProxyRules latency in seconds for full resyncs',
      buckets,
      registers: [registry],
    }),
    syncPartialDuration: new Histogram({
      name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      help: 'SyncProxyRules latency in seconds for partial resyncs',
      buckets,
      registers: [registry],
    }),
    lastSync: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
      help: 'The last time proxy rules were successfully synced',
      registers: [registry],
    }),
    lastQueued: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
      help: 'The last time a sync of proxy rules was queued',
      registers: [registry],
    }),
    syncFailures: new Counter({
      name: 'bpfproxy_sync_proxy_rules_failures_total',
      help: 'Syncs that failed in whole or for some service ports (those keep their previous state and are retried)',
      labelNames: ['backend'],
      registers: [registry],
    }),
    iptablesRestoreFailures: new Counter({
      name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total',
      help: 'Cumulative proxy iptables restore failures',
      registers: [registry],
    }),
    iptablesPartialRestoreFailures: new Counter({
      name: 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total',
      help: 'Cumulative proxy iptables partial restore failures',
      registers: [registry],
    }),
    iptablesRulesLastSync: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_iptables_last',
      help: 'Number of iptables rules written by the proxy in the last sync',
      labelNames: ['table', 'family'],
      registers: [registry],
    }),
    inputProblems: new Counter({
      name: 'bpfproxy_input_problems_total',
      help: 'Input objects skipped because a field was invalid',
      labelNames: ['kind'],
      registers: [registry],
    }),
    datapath,
    datapathPackets: new Counter({
      name: 'bpfproxy_datapath_packets_total',
      help: 'Packets the eBPF data plane handled, by path (new flow, established, reply, rejected, reset)',
      labelNames: ['path'],
      registers: [registry],
      collect: fromKernel((c) => c.packets, 'path'),
    }),
    datapathDrops: new Counter({
      name: 'bpfproxy_datapath_drops_total',
      help: 'Packets the eBPF data plane dropped, by reason',
      labelNames: ['reason'],
      registers: [registry],
      collect: fromKernel((c) => c.drops, 'reason'),
    }),
    xdpAttached: new Gauge({
      name: 'bpfproxy_xdp_attached',
      help: 'xdp_lb on an external interface: 1 attached in that mode, 0 the mode was refused (tc_lb alone serves it)',
      labelNames: ['interface', 'mode'],
      registers: [registry],
    }),
    conntrackEntries: new Gauge({
      name: 'bpfproxy_conntrack_entries',
      help: 'eBPF conntrack entries (two per flow) left after the last garbage collection pass',
      registers: [registry],
    }),
    conntrackGcDeleted: new Counter({
      name: 'bpfproxy_conntrack_gc_deleted_total',
      help: 'eBPF conntrack entries of flows that were over, deleted by garbage collection',
      registers: [registry],
    }),
    conntrackGcDuration: new Histogram({
      name: 'bpfproxy_conntrack_gc_duration_seconds',
      help: 'Duration of one eBPF conntrack garbage collection pass (dump, decide, batch delete)',
      buckets,
      registers: [registry],
    }),
    socketsDestroyed: new Counter({
      name: 'bpfproxy_sockets_destroyed_total',
      help: 'Sockets the eBPF socket LB had connected to a backend that was removed, closed so their clients reconnect (by protocol and how: kfunc or netlink)',
      labelNames: ['protocol', 'method'],
      registers: [registry],
    }),
    failedServicePorts: new Gauge({
      name: 'bpfproxy_sync_failed_service_ports',
      help: 'Service ports the last sync could not program (each keeps its previous state; retried with backoff)',
      labelNames: ['backend'],
      registers: [registry],
    }),
    endpointChangesTotal: new Counter({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total',
      help: 'Cumulative proxy rules Endpoint changes',
      registers: [registry],
    }),
    endpointChangesPending: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
      help: 'Pending proxy rules Endpoint changes',
      registers: [registry],
    }),
    serviceChangesTotal: new Counter({
      name: 'kubeproxy_sync_proxy_rules_service_changes_total',
      help: 'Cumulative proxy rules Service changes',
      registers: [registry],
    }),
    serviceChangesPending: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_service_changes_pending',
      help: 'Pending proxy rules Service changes',
      registers: [registry],
    }),
    // kube-proxy's buckets start at 250 ms; ours also resolve the milliseconds we take.
    networkProgrammingDuration: new Histogram({
      name: 'kubeproxy_network_programming_duration_seconds',
      help: 'In Cluster Network Programming Latency in seconds (endpoints.kubernetes.io/last-change-trigger-time to programmed)',
      buckets: [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    noLocalEndpoints: new Gauge({
      name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total',
      help: 'Number of services with a Local traffic policy and no endpoints',
      labelNames: ['traffic_policy'],
      registers: [registry],
    }),
    informerRestarts: new Counter({
      name: 'bpfproxy_informer_restarts_total',
      help: 'Kubernetes informers restarted after an error (API server unreachable, list or watch refused)',
      labelNames: ['resource'],
      registers: [registry],
    }),
    informerStale: new Counter({
      name: 'bpfproxy_informer_stale_total',
      help: 'Times an informer heard nothing from the API server (no event, no bookmark) for too long',
      labelNames: ['resource'],
      registers: [registry],
    }),
    bpfMapEntries: new Gauge({
      name: 'bpfproxy_bpf_map_entries',
      help: 'Entries in each eBPF service map after the last sync',
      labelNames: ['map'],
      registers: [registry],
    }),
    bpfMapCapacity: new Gauge({
      name: 'bpfproxy_bpf_map_capacity',
      help: 'max_entries of each eBPF service map',
      labelNames: ['map'],
      registers: [registry],
    }),
    bpfMapFull: new Counter({
      name: 'bpfproxy_bpf_map_full_errors_total',
      help: 'Service ports not programmed because an eBPF map was full',
      labelNames: ['map'],
      registers: [registry],
    }),
    serviceCount: new Gauge({
      name: 'bpfproxy_services',
      help: 'Service ports in the last synced table',
      registers: [registry],
    }),
    dns,
    dnsResponses: new Counter({
      name: 'bpfproxy_dns_responses_total',
      help: 'Cluster DNS responses sent, by transport and rcode (forwarded ones with the upstream\'s rcode)',
      labelNames: ['proto', 'rcode'],
      registers: [registry],
      collect: fromDns((c, t) => {
        for (const [k, n] of Object.entries(t.responses)) {
          const [proto, rcode] = k.split('|');
          c.inc({ proto, rcode }, n);
        }
      }),
    }),
    dnsCacheHits: new Counter({
      name: 'bpfproxy_dns_cache_hits_total',
      help: 'Cluster DNS answers sent from the answer cache (kept until the next object change)',
      labelNames: ['proto'],
      registers: [registry],
      collect: fromDns((c, t) => {
        for (const [proto, n] of Object.entries(t.cacheHits)) c.inc({ proto }, n);
      }),
    }),
    dnsDropped: new Counter({
      name: 'bpfproxy_dns_dropped_total',
      help: 'DNS messages dropped unanswered (shorter than a header, or a response)',
      registers: [registry],
      collect: fromDns((c, t) => c.inc(t.dropped)),
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
