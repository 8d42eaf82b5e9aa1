// The real kube-proxy (built from its Go module by scripts/cluster/build.sh) as the
// reference proxy in a node namespace: the conformance suite runs every case on it too
// (columns kube-proxy/iptables and /nftables on the host, kube-proxy/ipvs in the guest),
// with the same cluster CIDR and sync periods as bpfproxy gets, its healthz and metrics
// bound inside the namespace.
import { spawn } from 'node:child_process';
import { run } from '../../src/util/exec.js';
import { ChildProxy, type NodeProxy } from './proxy-process.js';

export type KubeProxyMode = 'iptables' | 'nftables' | 'ipvs';

export interface KubeProxyOptions {
  /** The kube-proxy binary. */
  binary: string;
  mode: KubeProxyMode;
  netns: string;
  kubeconfig: string;
  nodeName: string;
  /** Flags after ours (e.g. --nodeport-addresses); the suite's `--cluster-cidr` comes first. */
  extraArgs?: string[];
  /** Its environment (default: ours), e.g. a PATH whose `iptables` is iptables-legacy. */
  env?: NodeJS.ProcessEnv;
}

/** What `inspect` prints for each mode: the kernel state kube-proxy wrote. */
const INSPECT: Record<KubeProxyMode, Array<[string, string[]]>> = {
  iptables: [['iptables-save', []], ['ip6tables-save', []]],
  nftables: [['nft', ['list', 'table', 'ip', 'kube-proxy']], ['nft', ['list', 'table', 'ip6', 'kube-proxy']]],
  ipvs: [['ipvsadm', ['-Ln']], ['ipset', ['list', '-n']], ['iptables-save', []]],
};

/**
 * kube-proxy logs "SyncProxyRules complete" after each sync that reached the kernel; that is
 * what `syncs` counts (bpfproxy's "synced" log line, for the same waits). The iptables and
 * nftables proxiers log it at -v=2, the IPVS one ("syncProxyRules complete") only at -v=4.
 */
export class KubeProxyProcess extends ChildProxy implements NodeProxy {
  constructor(readonly opts: KubeProxyOptions) {
    super('kube-proxy', /syncProxyRules complete/i);
  }

  args(): string[] {
    const o = this.opts;
    return [
      `--kubeconfig=${o.kubeconfig}`,
      `--hostname-override=${o.nodeName}`,
      `--proxy-mode=${o.mode}`,
      // Inside the node namespace: each namespace has its own loopback.
      '--healthz-bind-address=127.0.0.1:10256',
      '--metrics-bind-address=127.0.0.1:10249',
      // A namespace cannot set the global conntrack table size; leave the sysctls alone.
      '--conntrack-max-per-core=0',
      '--conntrack-min=0',
      '--conntrack-tcp-timeout-established=0',
      '--conntrack-tcp-timeout-close-wait=0',
      '--oom-score-adj=0',
      // The sync periods bpfproxy runs with in the suite (proxy-process.ts), except IPVS mode
      // in the qemu guest: there it keeps its default 30 s period. Each of its syncs runs
      // `ipset` twice per set and `iptables` per chain and jump, 8–13 s under TCG, so at 5 s
      // the four proxiers of a suite (two nodes × two families) resynced back to back and
      // held both guest CPUs, slowing every change the cases waited for.
      ...(o.mode === 'ipvs'
        ? [`--ipvs-sync-period=${process.env.BPFPROXY_IN_GUEST === '1' ? '30s' : '5s'}`, '--ipvs-min-sync-period=100ms']
        : ['--iptables-sync-period=5s', '--iptables-min-sync-period=100ms']),
      `--v=${o.mode === 'ipvs' ? 4 : 2}`,
      ...(o.extraArgs ?? []),
      ...this.extra,
    ];
  }

  async start(timeoutMs = process.env.BPFPROXY_IN_GUEST === '1' ? 90_000 : 30_000): Promise<void> {
    const before = this.syncs;
    this.attach(spawn('ip', ['netns', 'exec', this.opts.netns, this.opts.binary, ...this.args()], { stdio: ['ignore', 'pipe', 'pipe'], env: this.opts.env ?? process.env }));
    await this.waitForSyncs(before + 1, timeoutMs);
  }

  /**
   * The kernel state, led (iptables and nftables modes) by a summary in the form the cases read back
   * (answered.ts programmedEndpoints): `CHAIN vip:port` and `  -> endpoint` lines.
   * `ipvsadm -Ln` already has that form.
   */
  async inspect(): Promise<string> {
    const outs = await Promise.all(
      INSPECT[this.opts.mode].map(async ([cmd, args]) => {
        const r = await run('ip', ['netns', 'exec', this.opts.netns, cmd, ...args], { allowFailure: true, timeoutMs: 30_000 });
        return { cmd: `${cmd} ${args.join(' ')}`, out: r.stdout + r.stderr };
      }),
    );
    const summarize = { iptables: clusterIPSummary, nftables: nftClusterIPSummary, ipvs: undefined }[this.opts.mode];
    const summary = summarize ? outs.map((o) => summarize(o.out)) : [];
    return [...summary, ...outs.map((o) => `# ${o.cmd}\n${o.out}`)].join('\n');
  }

  /** `kube-proxy --cleanup`: removes what every mode of kube-proxy programs. */
  async cleanup(timeoutMs = process.env.BPFPROXY_IN_GUEST === '1' ? 120_000 : 30_000): Promise<void> {
    await run('ip', ['netns', 'exec', this.opts.netns, this.opts.binary, '--cleanup', `--proxy-mode=${this.opts.mode}`, '--v=2'], { timeoutMs, ...(this.opts.env ? { env: this.opts.env } : {}) });
  }
}

/**
 * kube-proxy's iptables-save read back as ClusterIP frontends and their endpoints:
 *   KUBE-SERVICES -d VIP/32 -p P ... --dport PORT -j KUBE-SVC-X
 *   KUBE-SVC-X ... -j KUBE-SEP-Y           (one per endpoint)
 *   KUBE-SEP-Y ... -j DNAT --to-destination IP:PORT
 */
export function clusterIPSummary(save: string): string {
  const rules = save.split('\n').filter((l) => l.startsWith('-A '));
  const dnat = new Map<string, string>();
  const seps = new Map<string, string[]>();
  for (const r of rules) {
    const chain = r.split(' ')[1]!;
    const to = / -j DNAT --to-destination (\S+)/.exec(r)?.[1];
    if (to && chain.startsWith('KUBE-SEP-')) dnat.set(chain, to);
    const sep = / -j (KUBE-SEP-\S+)/.exec(r)?.[1];
    if (sep) seps.set(chain, [...(seps.get(chain) ?? []), sep]);
  }
  const out: string[] = [];
  for (const r of rules) {
    const m = /^-A KUBE-SERVICES -d (\S+?)(?:\/(?:32|128))? .*--dport (\d+) -j (KUBE-SVC-\S+)/.exec(r);
    if (!m) continue;
    const vip = m[1]!.includes(':') ? `[${m[1]}]` : m[1]!;
    out.push(`${m[3]} ${vip}:${m[2]}`, ...(seps.get(m[3]!) ?? []).map((s) => `  -> ${dnat.get(s) ?? '?'}`));
  }
  return out.join('\n') + '\n';
}

/**
 * kube-proxy's nftables table read back the same way (IPv4):
 *   map service-ips { elements = { VIP . proto . PORT : goto CHAIN, ... } }
 *   chain CHAIN { ... dnat to IP:PORT }                        (one endpoint)
 *   chain CHAIN { ... dnat ip to numgen ... map { 0 : IP . PORT, ... } }   (several)
 *   chain CHAIN { ... goto endpoint-... }  → that chain's dnat (session affinity)
 */
export function nftClusterIPSummary(table: string): string {
  const chains = new Map<string, string>();
  for (const m of table.matchAll(/\n\s*chain (\S+) \{([\s\S]*?)\n\s*\}/g)) chains.set(m[1]!, m[2]!);
  const endpointsOf = (body: string): string[] => {
    const many = /numgen [^{]*map \{([^}]*)\}/.exec(body);
    if (many) return [...many[1]!.matchAll(/\d+ : (\S+) \. (\d+)/g)].map((x) => `${x[1]}:${x[2]}`);
    const one = /dnat (?:ip )?to (\S+)/.exec(body);
    if (one) return [one[1]!];
    return [...body.matchAll(/goto (endpoint-\S+)/g)].flatMap((x) => endpointsOf(chains.get(x[1]!) ?? ''));
  };
  const map = /map service-ips \{[\s\S]*?elements = \{([\s\S]*?)\}/.exec(table)?.[1] ?? '';
  const out: string[] = [];
  for (const m of map.matchAll(/(\S+) \. \S+ \. (\d+)(?: comment "[^"]*")? : goto (\S+?),?\s/g)) {
    out.push(`${m[3]} ${m[1]}:${m[2]}`, ...endpointsOf(chains.get(m[3]!) ?? '').map((e) => `  -> ${e}`));
  }
  return out.join('\n') + '\n';
}
