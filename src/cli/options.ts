// bpfproxy's command line options: the help text, the parser and the CliOptions every
// subcommand reads. Flags follow kube-proxy's names where kube-proxy has the same knob
// (--min-sync-period, --sync-period, --cluster-cidr, ...).
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { BACKEND_NAMES, type BackendConfig, parseBackendName } from '../backends/factory.js';
import { requireCIDR } from '../model/validate.js';
import { type MapSizes, SIZED_MAPS, SNAT_PORT_MAX, SNAT_PORT_MIN } from '../backends/ebpf/abi.js';
import { parseDuration } from '../util/duration.js';
import { parsePortRange } from '../util/port-range.js';

export const HELP = `bpfproxy — Kubernetes Service proxy (eBPF, iptables or IPVS data plane)

Usage:
  bpfproxy run     --backend=ebpf|iptables|ipvs --manifests DIR [options]
  bpfproxy inspect --backend=B [--netns NAME]      what is programmed, read back from the kernel
  bpfproxy inspect --backend=ebpf --stats          the data plane's packet and drop counters
  bpfproxy render  --backend=B --manifests DIR     what B would program, without touching the kernel
  bpfproxy run     --backend=B --cleanup           remove everything B programmed, then exit
  bpfproxy trace   --backend=iptables --src IP --dst IP:PORT [--proto tcp|udp] [--json] [--netns NAME]
                                                   follow one new connection through the live ruleset

Options:
  --backend NAME              ${BACKEND_NAMES.join(' | ')} (default ebpf)
  --manifests DIR             watch a directory of YAML/JSON Services, EndpointSlices, Nodes, Pods
  --netns NAME                run inside network namespace NAME (/run/netns/NAME)
  --node-name NAME            this node's name, for Local traffic policies (default: $NODE_NAME or hostname)
  --min-sync-period DUR       at most one sync per DUR (default 1s)
  --sync-period DUR           full resync at least every DUR (default 30s)
  --cluster-cidr CIDRS        pod CIDRs (comma-separated, one per family); ClusterIP traffic from outside is masqueraded
  --masquerade-all            masquerade all Service traffic
  --nodeport-addresses CIDRS  NodePorts only on node addresses inside these CIDRs (default: all)
  --iptables-mode nft|legacy  iptables, ipvs: use iptables-nft or iptables-legacy (default: the system's iptables)
  --service-proxy-name NAME   only proxy Services labelled service.kubernetes.io/service-proxy-name=NAME
  --healthz-bind-address A    host:port for /healthz (default 0.0.0.0:10256; "" disables)
  --metrics-bind-address A    host:port for /metrics (default 127.0.0.1:10249; "" disables)
  --bpf-pin-root DIR          ebpf: bpffs directory for maps and programs (default /sys/fs/bpf/bpfproxy)
  --cgroup-path DIR           ebpf: cgroup v2 directory for socket-level LB of host clients
  --hairpin-address IP        ebpf: source address for hairpin SNAT
  --snat-port-range MIN-MAX   ebpf: source ports for SNATed flows (default 61000-65535, above the
                              kernel's default ephemeral range so the node's own sockets never collide)
  --conntrack-gc-interval D   ebpf: how often flows that are over are deleted from conntrack (default 5s;
                              0 = never, leaving them to the LRU, which then evicts quiet live flows too)
  --bpf-map-sizes LIST        ebpf: map entries, e.g. services=2097152,backends=1048576 (maps: services,
                              backends, rev_nat, svc_meta, conntrack, affinity; defaults fit 100k services)
  --ipvs-scheduler S          ipvs: rr (default), wrr, lc, wlc, sh, dh, sed, nq, mh
  --cleanup                   remove all rules/maps/programs of the backend and exit
  --log-level LEVEL           trace|debug|info|warn|error (default info)
  -h, --help                  this text
`;

export interface CliOptions {
  backend: ReturnType<typeof parseBackendName>;
  manifests?: string;
  nodeName: string;
  minSyncPeriodMs: number;
  syncPeriodMs: number;
  serviceProxyName?: string;
  healthzBind: string;
  metricsBind: string;
  cleanup: boolean;
  backendConfig: Omit<BackendConfig, 'logger' | 'metrics'>;
}

export function parseArgv(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      backend: { type: 'string', default: 'ebpf' },
      manifests: { type: 'string' },
      netns: { type: 'string' },
      'node-name': { type: 'string' },
      'min-sync-period': { type: 'string', default: '1s' },
      'sync-period': { type: 'string', default: '30s' },
      'cluster-cidr': { type: 'string', default: '' },
      'masquerade-all': { type: 'boolean', default: false },
      'service-proxy-name': { type: 'string' },
      'healthz-bind-address': { type: 'string', default: '0.0.0.0:10256' },
      'metrics-bind-address': { type: 'string', default: '127.0.0.1:10249' },
      'bpf-pin-root': { type: 'string', default: '/sys/fs/bpf/bpfproxy' },
      'cgroup-path': { type: 'string' },
      'hairpin-address': { type: 'string' },
      'snat-port-range': { type: 'string', default: `${SNAT_PORT_MIN}-${SNAT_PORT_MAX}` },
      'conntrack-gc-interval': { type: 'string', default: '5s' },
      'bpf-map-sizes': { type: 'string', default: '' },
      'ipvs-scheduler': { type: 'string', default: 'rr' },
      cleanup: { type: 'boolean', default: false },
      'nodeport-addresses': { type: 'string', default: '' },
      'iptables-mode': { type: 'string' },
      src: { type: 'string' },
      dst: { type: 'string' },
      proto: { type: 'string' },
      json: { type: 'boolean', default: false },
      stats: { type: 'boolean', default: false },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

function parseIptablesMode(v: string | undefined): 'nft' | 'legacy' | undefined {
  if (v === undefined || v === 'nft' || v === 'legacy') return v;
  throw new Error(`--iptables-mode: want nft or legacy, got ${JSON.stringify(v)}`);
}

/** `services=N,backends=N`: each a known map, each N a positive integer. */
export function parseMapSizes(v: string): MapSizes {
  const out: MapSizes = {};
  for (const item of v.split(',').filter((s) => s !== '')) {
    const [name, n] = item.split('=');
    if (!(SIZED_MAPS as readonly string[]).includes(name ?? '')) throw new Error(`--bpf-map-sizes: unknown map ${JSON.stringify(name)} (want ${SIZED_MAPS.join(', ')})`);
    const size = Number(n);
    if (!Number.isInteger(size) || size < 1) throw new Error(`--bpf-map-sizes: ${name}=${n} is not a positive integer`);
    out[name as (typeof SIZED_MAPS)[number]] = size;
  }
  return out;
}

/** The parsed values as CliOptions; throws with a message naming the flag. */
export function cliOptions(v: ReturnType<typeof parseArgv>['values']): CliOptions {
  const opts: CliOptions = {
    backend: parseBackendName(v.backend),
    manifests: v.manifests,
    nodeName: v['node-name'] ?? process.env.NODE_NAME ?? hostname(),
    minSyncPeriodMs: parseDuration(v['min-sync-period'], '--min-sync-period'),
    syncPeriodMs: parseDuration(v['sync-period'], '--sync-period'),
    serviceProxyName: v['service-proxy-name'],
    healthzBind: v['healthz-bind-address'],
    metricsBind: v['metrics-bind-address'],
    cleanup: v.cleanup,
    backendConfig: {
      clusterCIDRs: v['cluster-cidr'].split(',').filter((s) => s !== ''),
      masqueradeAll: v['masquerade-all'],
      nodePortAddresses: v['nodeport-addresses'].split(',').filter((s) => s !== '').map((c) => requireCIDR(c, '--nodeport-addresses')),
      iptablesMode: parseIptablesMode(v['iptables-mode']),
      pinRoot: v['bpf-pin-root'],
      cgroupPath: v['cgroup-path'],
      hairpinAddress: v['hairpin-address'],
      snatPortRange: parsePortRange(v['snat-port-range'], '--snat-port-range'),
      conntrackGcIntervalMs: parseDuration(v['conntrack-gc-interval'], '--conntrack-gc-interval'),
      mapSizes: parseMapSizes(v['bpf-map-sizes']),
      ipvsScheduler: v['ipvs-scheduler'],
    },
  };
  if (opts.syncPeriodMs <= 0) throw new Error('--sync-period must be > 0');
  return opts;
}
