// bpfproxy's command line options: the help text, the parser and the CliOptions every
// subcommand reads. Flags follow kube-proxy's names where kube-proxy has the same knob
// (--min-sync-period, --sync-period, --cluster-cidr, ...).
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { BACKEND_NAMES, type BackendConfig, parseBackendName } from '../backends/factory.js';
import { NODEPORT_KEYWORDS } from '../model/frontends.js';
import { requireCIDR } from '../model/validate.js';
import { parseBind } from '../proxier/http-endpoints.js';
import { MAGLEV_SIZE_DEFAULT, MAGLEV_SIZE_MAX, MAGLEV_SIZE_MIN, type MapSizes, SIZED_MAPS, SNAT_PORT_MAX, SNAT_PORT_MIN } from '../backends/ebpf/abi.js';
import { DEFAULT_MAGLEV_SEED, checkTableSize } from '../backends/ebpf/maglev.js';
import type { LbOptions } from '../backends/ebpf/render.js';
import { LB_ALGORITHMS, isLbAlgorithm } from '../model/lb-algorithm.js';
import { parseDuration } from '../util/duration.js';
import { parsePortRange } from '../util/port-range.js';
import { socketLbTarget } from '../backends/ebpf/socket-lb.js';
import { parseXdpSetting } from '../backends/ebpf/xdp-attach.js';
import { readKubeProxyConfig } from './kube-proxy-config.js';
import { readFileSync } from 'node:fs';
import { type Nameserver, parseResolvConf } from '../dns/resolv-conf.js';

export const HELP = `bpfproxy — Kubernetes Service proxy (eBPF, iptables or IPVS data plane)

Usage:
  bpfproxy run     --backend=ebpf|iptables|ipvs [--kubeconfig FILE | --manifests DIR] [options]
                                                   source: --manifests DIR, else the Kubernetes API
                                                   (--kubeconfig/--master, else in-cluster config)
  bpfproxy inspect --backend=B [--netns NAME]      what is programmed, read back from the kernel
  bpfproxy inspect --backend=ebpf --stats          the data plane's packet and drop counters
  bpfproxy render  --backend=B --manifests DIR     what B would program, without touching the kernel
  bpfproxy run     --backend=B --cleanup           remove everything B programmed, then exit
  bpfproxy trace   --backend=iptables --src IP --dst IP:PORT [--proto tcp|udp] [--json] [--netns NAME]
                                                   follow one new connection through the live ruleset

Options:
  --backend NAME              ${BACKEND_NAMES.join(' | ')} (default ebpf); --proxy-mode is an alias
  --config FILE               a kube-proxy KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1);
                              flags given on the command line override its values
  --kubeconfig FILE           Kubernetes API credentials (default: in-cluster service account)
  --master URL                Kubernetes API server address (overrides the kubeconfig's)
  --manifests DIR             no API server: watch a directory of YAML/JSON Services, EndpointSlices, Nodes, Pods
  --netns NAME                run inside network namespace NAME (/run/netns/NAME)
  --hostname-override NAME    this node's name, for its Node object and Local traffic policies
                              (default: $NODE_NAME or the hostname); --node-name is an alias
  --min-sync-period DUR       at most one sync per DUR (default 1s)
  --sync-period DUR           full resync at least every DUR (default 30s)
  --cluster-cidr CIDRS        pod CIDRs (comma-separated, one per family); ClusterIP traffic from outside is masqueraded
  --masquerade-all            masquerade all Service traffic
  --nodeport-addresses LIST   NodePorts only on the Node's addresses inside these CIDRs; keywords: primary (the Node's first address of each family), all (default)
  --iptables-mode nft|legacy  iptables, ipvs: use iptables-nft or iptables-legacy (default: the system's iptables)
  --iptables-localhost-nodeports true|false
                              iptables: serve NodePorts on 127.0.0.1 too (route_localnet, with kube-proxy's
                              KUBE-FIREWALL guard; only when --nodeport-addresses covers it; default true);
                              ebpf: the same switch for the socket LB's 127.0.0.1 NodePorts
  --service-proxy-name NAME   only proxy Services labelled service.kubernetes.io/service-proxy-name=NAME
  --healthz-bind-address A    host:port for /healthz (default 0.0.0.0:10256; "" disables)
  --metrics-bind-address A    host:port for /metrics (default 127.0.0.1:10249; "" disables)
  --bpf-pin-root DIR          ebpf: bpffs directory for maps and programs (default /sys/fs/bpf/bpfproxy)
  --socket-lb true|false      ebpf: socket-level LB (default true): connect()/sendmsg() of host processes to a
                              Service go straight to a backend, recvmsg()/getpeername() report the Service;
                              sockets connected to a backend that is removed are closed (their clients reconnect)
  --cgroup-path DIR           ebpf: the cgroup v2 directory the socket LB attaches to (default: the cgroup2
                              mount, i.e. every process of the node); the log says where it attached
  --socket-lb-host-netns-only ebpf: the socket LB translates only sockets of the node's network namespace;
                              processes of the cgroup in other namespaces (pods, Istio sidecars, KubeVirt VMs)
                              reach Services as packets (tc_lb), as they would without a socket LB
  --hairpin-address IP        ebpf: source address for hairpin SNAT
  --snat-port-range MIN-MAX   ebpf: source ports for SNATed flows (default 61000-65535, above the
                              kernel's default ephemeral range so the node's own sockets never collide)
  --conntrack-gc-interval D   ebpf: how often flows that are over are deleted from conntrack (default 5s;
                              0 = never, leaving them to the LRU, which then evicts quiet live flows too)
  --bpf-map-sizes LIST        ebpf: map entries, e.g. services=2097152,backends=1048576 (maps: services,
                              backends, rev_nat, svc_meta, conntrack, affinity; defaults fit 100k services)
  --lb-algorithm ALG          ebpf: how new flows pick a backend: random (default) or maglev (consistent
                              hashing: every node picks the same backend for a flow, and few flows move
                              when a backend leaves); a Service's bpfproxy.io/lb-algorithm annotation overrides it
  --maglev-table-size M       ebpf: maglev lookup table size, a prime from ${MAGLEV_SIZE_MIN} to ${MAGLEV_SIZE_MAX} (default ${MAGLEV_SIZE_DEFAULT};
                              keep it >= 100 x the largest Service's endpoints; M x 4 bytes per table)
  --maglev-seed STRING        ebpf: seed of the maglev hashes (default "${DEFAULT_MAGLEV_SEED}"); the same on every node,
                              or nodes pick different backends; a private value keeps the choice unpredictable
  --xdp MODE                  ebpf: XDP fast path for NodePort/external/LB IP traffic on the node's external
                              interface(s): auto (default: native, but veth interfaces stay with tc, since
                              local senders' partial checksums cross veths), native (veth too), generic
                              (any driver, slower), off (tc only). A mode the interface refuses is logged
                              and tc serves it.
  --xdp-local-redirect        ebpf: XDP also sends NodePort/external flows of local pods into their veths (without
                              it only flows to other nodes' pods stay in XDP). Only when every pod veth's peer
                              runs NAPI (GRO on, or an XDP program, in the pod): else the kernel drops them
  --ipvs-scheduler S          ipvs: rr (default), wrr, lc, wlc, sh, dh, sed, nq, mh
  --dns-bind-address A        answer cluster DNS on host:port, UDP and TCP (default "": off)
  --cluster-domain ZONE       the cluster's DNS zone (default cluster.local)
  --dns-ttl DUR               TTL of DNS answers (default 5s)
  --dns-upstream FILE         a resolv.conf: names outside the zone go to its nameservers
                              (default: answered REFUSED)
  --dns-pods MODE             <a-b-c-d>.<ns>.pod.<zone> records: disabled, insecure (any IP,
                              the default, as kubeadm's Corefile) or verified (a Pod has that IP)
  --cleanup                   remove all rules/maps/programs of the backend and exit
  --log-level LEVEL           trace|debug|info|warn|error (default info)
  -h, --help                  this text
`;

export const DNS_POD_MODES = ['disabled', 'insecure', 'verified'] as const;

export interface DnsOptions {
  bind: { host: string; port: number };
  zone: string;
  ttlSeconds: number;
  upstream?: Nameserver[];
  pods: (typeof DNS_POD_MODES)[number];
}

export interface CliOptions {
  backend: ReturnType<typeof parseBackendName>;
  manifests?: string;
  kubeconfig?: string;
  master?: string;
  nodeName: string;
  minSyncPeriodMs: number;
  syncPeriodMs: number;
  serviceProxyName?: string;
  healthzBind: string;
  metricsBind: string;
  cleanup: boolean;
  /** Cluster DNS (--dns-bind-address); undefined when off. */
  dns?: DnsOptions;
  backendConfig: Omit<BackendConfig, 'logger' | 'metrics'>;
}

/** The flags a KubeProxyConfiguration can set: no parseArgs default, so "not given" shows. */
const DEFAULTS = {
  backend: 'ebpf',
  'min-sync-period': '1s',
  'sync-period': '30s',
  'cluster-cidr': '',
  'masquerade-all': false,
  'healthz-bind-address': '0.0.0.0:10256',
  'metrics-bind-address': '127.0.0.1:10249',
  'ipvs-scheduler': 'rr',
  'nodeport-addresses': '',
  'iptables-localhost-nodeports': 'true',
} as const;

export function parseArgv(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      backend: { type: 'string' },
      'proxy-mode': { type: 'string' },
      config: { type: 'string' },
      kubeconfig: { type: 'string' },
      master: { type: 'string' },
      manifests: { type: 'string' },
      netns: { type: 'string' },
      'node-name': { type: 'string' },
      'hostname-override': { type: 'string' },
      'min-sync-period': { type: 'string' },
      'sync-period': { type: 'string' },
      'cluster-cidr': { type: 'string' },
      'masquerade-all': { type: 'boolean' },
      'service-proxy-name': { type: 'string' },
      'healthz-bind-address': { type: 'string' },
      'metrics-bind-address': { type: 'string' },
      'bpf-pin-root': { type: 'string', default: '/sys/fs/bpf/bpfproxy' },
      'cgroup-path': { type: 'string' },
      'socket-lb': { type: 'string', default: 'true' },
      'socket-lb-host-netns-only': { type: 'boolean', default: false },
      'hairpin-address': { type: 'string' },
      'snat-port-range': { type: 'string', default: `${SNAT_PORT_MIN}-${SNAT_PORT_MAX}` },
      'conntrack-gc-interval': { type: 'string', default: '5s' },
      'bpf-map-sizes': { type: 'string', default: '' },
      'lb-algorithm': { type: 'string', default: 'random' },
      'maglev-table-size': { type: 'string', default: String(MAGLEV_SIZE_DEFAULT) },
      'maglev-seed': { type: 'string', default: DEFAULT_MAGLEV_SEED },
      xdp: { type: 'string', default: 'auto' },
      'xdp-local-redirect': { type: 'boolean', default: false },
      'ipvs-scheduler': { type: 'string' },
      'dns-bind-address': { type: 'string', default: '' },
      'cluster-domain': { type: 'string', default: 'cluster.local' },
      'dns-ttl': { type: 'string', default: '5s' },
      'dns-upstream': { type: 'string' },
      'dns-pods': { type: 'string', default: 'insecure' },
      cleanup: { type: 'boolean', default: false },
      'nodeport-addresses': { type: 'string' },
      'iptables-localhost-nodeports': { type: 'string' },
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

type Values = ReturnType<typeof parseArgv>['values'];

export const IPVS_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'sh', 'dh', 'sed', 'nq', 'mh'] as const;

/** One value for a flag that has an alias; both given and different is an error. */
function aliased(v: Values, name: keyof Values, alias: keyof Values): string | undefined {
  const a = v[name] as string | undefined;
  const b = v[alias] as string | undefined;
  if (a !== undefined && b !== undefined && a !== b) throw new Error(`--${String(name)} ${JSON.stringify(a)} and --${String(alias)} ${JSON.stringify(b)} disagree (they are the same flag)`);
  return a ?? b;
}

/**
 * Command line over --config over defaults. A value's error names where it came from:
 * the flag, or the config file's field.
 */
export function withConfig(v: Values): { values: Values; ignored: string[]; origin: Record<string, string> } {
  const out = { ...v } as Record<string, unknown>;
  out.backend = aliased(v, 'backend', 'proxy-mode');
  out['node-name'] = aliased(v, 'node-name', 'hostname-override');
  const origin: Record<string, string> = {};
  let ignored: string[] = [];
  if (v.config !== undefined) {
    const cfg = readKubeProxyConfig(v.config);
    ignored = cfg.ignored;
    for (const [flag, value] of Object.entries(cfg.flags)) {
      // --manifests on the command line picks the source: the file's kubeconfig does not apply.
      if (flag === 'kubeconfig' && v.manifests !== undefined) continue;
      const key = flag === 'hostname-override' ? 'node-name' : flag;
      if (out[key] === undefined) {
        out[key] = value;
        origin[key] = cfg.fields[flag] ?? flag;
      }
    }
  }
  for (const [k, d] of Object.entries(DEFAULTS)) if (out[k] === undefined) out[k] = d;
  return { values: out as Values, ignored, origin };
}

function parseBool(v: string, flag: string): boolean {
  if (v === 'true' || v === 'false') return v === 'true';
  throw new Error(`${flag}: want true or false, got ${JSON.stringify(v)}`);
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

/** --lb-algorithm, --maglev-table-size, --maglev-seed. */
export function lbOptions(v: { algorithm: string; tableSize: string; seed: string }): LbOptions {
  if (!isLbAlgorithm(v.algorithm)) throw new Error(`--lb-algorithm: want ${LB_ALGORITHMS.join(' or ')}, got ${JSON.stringify(v.algorithm)}`);
  const t = v.tableSize.trim();
  if (!/^[0-9]+$/.test(t)) throw new Error(`--maglev-table-size: want a prime from ${MAGLEV_SIZE_MIN} to ${MAGLEV_SIZE_MAX}, got ${JSON.stringify(v.tableSize)}`);
  const tableSize = checkTableSize(Number(t), '--maglev-table-size');
  if (v.seed === '') throw new Error('--maglev-seed: must not be empty');
  return { algorithm: v.algorithm, tableSize, seed: v.seed };
}

/** --socket-lb, --cgroup-path, --socket-lb-host-netns-only → the ebpf backend's socket LB settings. */
function socketLbConfig(v: Values, backend: string): Pick<CliOptions['backendConfig'], 'cgroupPath' | 'cgroupPathSource' | 'cgroupPathWarning' | 'socketLbOff' | 'socketLbHostNetnsOnly'> {
  const enabled = parseBool(v['socket-lb'] ?? 'true', '--socket-lb');
  // Other backends have no socket LB: nothing to resolve (and no mount table to read).
  if (backend !== 'ebpf') return {};
  const t = socketLbTarget({ enabled, cgroupPath: v['cgroup-path'], mountinfo: () => readFileSync('/proc/self/mountinfo', 'utf8') });
  if ('off' in t) return { socketLbOff: t.off };
  return { cgroupPath: t.cgroupPath, cgroupPathSource: t.source, ...(t.warning ? { cgroupPathWarning: t.warning } : {}), socketLbHostNetnsOnly: v['socket-lb-host-netns-only'] };
}

/** A comma-separated CIDR list; the error names the flag. */
function cidrList(v: string, flag: string): string[] {
  return v
    .split(',')
    .filter((s) => s !== '')
    .map((c) => {
      try {
        return requireCIDR(c, flag);
      } catch (e) {
        throw new Error(`${flag}: ${(e as Error).message}`);
      }
    });
}

/** --nodeport-addresses: CIDRs and kube-proxy's keywords `primary` and `all`. */
function nodePortAddressList(v: string): string[] {
  const flag = '--nodeport-addresses';
  const keywords: readonly string[] = NODEPORT_KEYWORDS;
  const words = v.split(',').filter((s) => s !== '');
  if (words.includes('localhost')) throw new Error(`${flag}: "localhost" (NodePorts on loopback addresses) is not supported; use CIDRs, ${NODEPORT_KEYWORDS.join(' or ')}`);
  return words.flatMap((w) => (keywords.includes(w) ? [w] : cidrList(w, flag)));
}

/** The --dns-* flags, or undefined when --dns-bind-address is empty. */
function dnsOptions(v: Values): DnsOptions | undefined {
  const bind = parseBind(v['dns-bind-address'] ?? '', '--dns-bind-address');
  if (!bind) return undefined;
  const zone = (v['cluster-domain'] ?? '').toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(zone)) throw new Error(`--cluster-domain: want a DNS name like cluster.local, got ${JSON.stringify(v['cluster-domain'])}`);
  const ttlMs = parseDuration(v['dns-ttl'] ?? '5s', '--dns-ttl');
  if (ttlMs % 1000 !== 0 || ttlMs < 0 || ttlMs / 1000 > 3600) throw new Error(`--dns-ttl: want whole seconds from 0s to 1h, got ${JSON.stringify(v['dns-ttl'])}`);
  const pods = v['dns-pods'] ?? 'insecure';
  if (!(DNS_POD_MODES as readonly string[]).includes(pods)) throw new Error(`--dns-pods: want one of ${DNS_POD_MODES.join(', ')}, got ${JSON.stringify(pods)}`);
  let upstream: Nameserver[] | undefined;
  const file = v['dns-upstream'];
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`--dns-upstream: cannot read ${file}: ${(e as Error).message}`);
    }
    try {
      upstream = parseResolvConf(text, file);
    } catch (e) {
      throw new Error(`--dns-upstream: ${(e as Error).message}`);
    }
  }
  return { bind, zone, ttlSeconds: ttlMs / 1000, upstream, pods: pods as DnsOptions['pods'] };
}

/** The parsed values (after withConfig) as CliOptions; throws with a message naming the flag. */
export function cliOptions(v: Values): CliOptions {
  const d = v as Values & typeof DEFAULTS;
  const scheduler = d['ipvs-scheduler'];
  if (!(IPVS_SCHEDULERS as readonly string[]).includes(scheduler)) throw new Error(`--ipvs-scheduler: want one of ${IPVS_SCHEDULERS.join(', ')}, got ${JSON.stringify(scheduler)}`);
  if (v.manifests !== undefined && (v.kubeconfig !== undefined || v.master !== undefined)) throw new Error('--manifests and --kubeconfig/--master: pick one source');
  if (v.master !== undefined && !/^https?:\/\/[^/]+\/?$/.test(v.master)) throw new Error(`--master: want a URL like https://host:6443, got ${JSON.stringify(v.master)}`);
  const opts: CliOptions = {
    backend: parseBackendName(d.backend),
    manifests: v.manifests,
    kubeconfig: v.kubeconfig,
    master: v.master,
    nodeName: (v['node-name'] ?? process.env.NODE_NAME ?? hostname()).toLowerCase(),
    minSyncPeriodMs: parseDuration(d['min-sync-period'], '--min-sync-period'),
    syncPeriodMs: parseDuration(d['sync-period'], '--sync-period'),
    serviceProxyName: v['service-proxy-name'],
    healthzBind: d['healthz-bind-address'],
    metricsBind: d['metrics-bind-address'],
    cleanup: v.cleanup,
    dns: dnsOptions(v),
    backendConfig: {
      clusterCIDRs: cidrList(d['cluster-cidr'], '--cluster-cidr'),
      masqueradeAll: d['masquerade-all'],
      nodePortAddresses: nodePortAddressList(d['nodeport-addresses']),
      localhostNodePorts: parseBool(String(d['iptables-localhost-nodeports']), '--iptables-localhost-nodeports'),
      iptablesMode: parseIptablesMode(v['iptables-mode']),
      pinRoot: v['bpf-pin-root'],
      ...socketLbConfig(v, parseBackendName(d.backend)),
      hairpinAddress: v['hairpin-address'],
      snatPortRange: parsePortRange(v['snat-port-range'], '--snat-port-range'),
      conntrackGcIntervalMs: parseDuration(v['conntrack-gc-interval'], '--conntrack-gc-interval'),
      mapSizes: parseMapSizes(v['bpf-map-sizes']),
      lb: lbOptions({ algorithm: v['lb-algorithm'], tableSize: v['maglev-table-size'], seed: v['maglev-seed'] }),
      xdp: parseXdpSetting(v.xdp ?? 'auto'),
      xdpLocalRedirect: v['xdp-local-redirect'],
      ipvsScheduler: scheduler,
    },
  };
  if (opts.syncPeriodMs <= 0) throw new Error('--sync-period must be > 0');
  for (const [flag, bind] of [['--healthz-bind-address', opts.healthzBind], ['--metrics-bind-address', opts.metricsBind]] as const) parseBind(bind, flag);
  return opts;
}

/**
 * argv → CliOptions, or an error naming the flag, or the --config file and field the bad
 * value came from. `ignored` lists the config's kube-proxy fields bpfproxy does not use.
 */
export function optionsFrom(v: Values): { opts: CliOptions; ignored: string[] } {
  const { values, ignored, origin } = withConfig(v);
  try {
    return { opts: cliOptions(values), ignored };
  } catch (e) {
    const msg = (e as Error).message;
    const flag = /^--([a-z-]+)/.exec(msg)?.[1];
    const field = flag ? origin[flag] : undefined;
    if (field) throw new Error(`--config ${v.config}: ${field}: ${msg.replace(/^--[a-z-]+:\s*/, '')}`);
    throw e;
  }
}
