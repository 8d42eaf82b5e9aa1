// `--config FILE`: a kube-proxy KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1),
// so a kube-proxy user reuses theirs. It becomes flag values (flags given on the command
// line win). Decoding is strict, as kube-proxy's is: a field kube-proxy does not know is an
// error naming it; a kube-proxy field bpfproxy has no use for is reported and ignored.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const KUBE_PROXY_CONFIG_API = 'kubeproxy.config.k8s.io/v1alpha1';

/** Flag values (parseArgv's names) read from the file. */
export type ConfigFlags = Partial<Record<string, string | boolean>>;

export interface KubeProxyConfig {
  flags: ConfigFlags;
  /** Where each flag value came from (its field), for error messages. */
  fields: Record<string, string>;
  /** kube-proxy fields bpfproxy does not use (e.g. conntrack, winkernel), by path. */
  ignored: string[];
}

/** kube-proxy's v1alpha1 fields (k8s.io/kube-proxy/config/v1alpha1, v0.37). */
const TOP = new Set([
  'apiVersion', 'kind', 'featureGates', 'clientConnection', 'logging', 'hostnameOverride', 'bindAddress', 'healthzBindAddress',
  'metricsBindAddress', 'bindAddressHardFail', 'enableProfiling', 'showHiddenMetricsForVersion', 'mode', 'iptables', 'ipvs',
  'nftables', 'winkernel', 'detectLocalMode', 'detectLocal', 'clusterCIDR', 'nodePortAddresses', 'oomScoreAdj', 'conntrack',
  'configSyncPeriod', 'portRange', 'windowsRunAsService',
]);
const SECTIONS: Record<string, Set<string>> = {
  clientConnection: new Set(['kubeconfig', 'acceptContentTypes', 'contentType', 'qps', 'burst']),
  iptables: new Set(['masqueradeBit', 'masqueradeAll', 'localhostNodePorts', 'syncPeriod', 'minSyncPeriod']),
  ipvs: new Set(['syncPeriod', 'minSyncPeriod', 'scheduler', 'excludeCIDRs', 'strictARP', 'tcpTimeout', 'tcpFinTimeout', 'udpTimeout']),
  nftables: new Set(['masqueradeBit', 'masqueradeAll', 'syncPeriod', 'minSyncPeriod']),
};
/** What bpfproxy reads; every other known field is "ignored". */
const USED = new Set([
  'apiVersion', 'kind', 'clientConnection.kubeconfig', 'hostnameOverride', 'healthzBindAddress', 'metricsBindAddress', 'mode',
  'clusterCIDR', 'nodePortAddresses', 'iptables.masqueradeAll', 'iptables.localhostNodePorts', 'ipvs.scheduler',
]);
/** kube-proxy's modes → ours. "" is kube-proxy's default (iptables on Linux); ebpf is ours. */
const MODES: Record<string, string> = { '': 'iptables', iptables: 'iptables', ipvs: 'ipvs', ebpf: 'ebpf' };

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v as object).length === 0);
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new Error(`${field}: want a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Parses and checks the file; throws "FILE: field: message". */
export function readKubeProxyConfig(path: string, text = readFileSync(path, 'utf8')): KubeProxyConfig {
  try {
    return decode(parse(text) as unknown);
  } catch (e) {
    throw new Error(`--config ${path}: ${(e as Error).message}`);
  }
}

export function decode(doc: unknown): KubeProxyConfig {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('want a KubeProxyConfiguration object');
  const c = doc as Record<string, unknown>;
  if (c.apiVersion !== KUBE_PROXY_CONFIG_API) throw new Error(`apiVersion: want ${KUBE_PROXY_CONFIG_API}, got ${JSON.stringify(c.apiVersion)}`);
  if (c.kind !== 'KubeProxyConfiguration') throw new Error(`kind: want KubeProxyConfiguration, got ${JSON.stringify(c.kind)}`);
  let ignored: string[] = [];
  for (const [k, v] of Object.entries(c)) {
    if (!TOP.has(k)) throw new Error(`${k}: unknown field (kube-proxy's v1alpha1 has no such field)`);
    const section = SECTIONS[k];
    if (section && v !== null && v !== undefined) {
      if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${k}: want an object`);
      for (const [sk, sv] of Object.entries(v as object)) {
        if (!section.has(sk)) throw new Error(`${k}.${sk}: unknown field`);
        if (!USED.has(`${k}.${sk}`) && !isEmpty(sv)) ignored.push(`${k}.${sk}`);
      }
    } else if (!USED.has(k) && !isEmpty(v)) ignored.push(k);
  }

  const flags: ConfigFlags = {};
  const fields: Record<string, string> = {};
  const set = (flag: string, value: string | boolean, field: string) => {
    flags[flag] = value;
    fields[flag] = field;
  };
  const mode = c.mode === undefined || c.mode === null ? '' : str(c.mode, 'mode');
  const backend = MODES[mode];
  if (backend === undefined) throw new Error(`mode: want one of "", iptables, ipvs, ebpf, got ${JSON.stringify(mode)} (bpfproxy has no ${mode} mode)`);
  if (mode !== '') set('backend', backend, 'mode');
  const cc = (c.clientConnection ?? {}) as Record<string, unknown>;
  if (!isEmpty(cc.kubeconfig)) set('kubeconfig', str(cc.kubeconfig, 'clientConnection.kubeconfig'), 'clientConnection.kubeconfig');
  if (!isEmpty(c.hostnameOverride)) set('hostname-override', str(c.hostnameOverride, 'hostnameOverride'), 'hostnameOverride');
  for (const [flag, field] of [['healthz-bind-address', 'healthzBindAddress'], ['metrics-bind-address', 'metricsBindAddress']] as const) {
    if (c[field] !== undefined && c[field] !== null) set(flag, str(c[field], field), field);
  }
  if (!isEmpty(c.clusterCIDR)) set('cluster-cidr', str(c.clusterCIDR, 'clusterCIDR'), 'clusterCIDR');
  if (!isEmpty(c.nodePortAddresses)) {
    if (!Array.isArray(c.nodePortAddresses)) throw new Error('nodePortAddresses: want a list of CIDRs (or primary, all)');
    set('nodeport-addresses', c.nodePortAddresses.map((x, i) => str(x, `nodePortAddresses[${i}]`)).join(','), 'nodePortAddresses');
  }
  // kube-proxy takes the sync periods from the section of the mode it runs.
  const sectionName = backend === 'ipvs' ? 'ipvs' : 'iptables';
  const section = (c[sectionName] ?? {}) as Record<string, unknown>;
  const used = new Set([`${sectionName}.syncPeriod`, `${sectionName}.minSyncPeriod`]);
  ignored = ignored.filter((f) => !used.has(f));
  if (!isEmpty(section.syncPeriod)) set('sync-period', str(section.syncPeriod, `${sectionName}.syncPeriod`), `${sectionName}.syncPeriod`);
  if (!isEmpty(section.minSyncPeriod)) set('min-sync-period', str(section.minSyncPeriod, `${sectionName}.minSyncPeriod`), `${sectionName}.minSyncPeriod`);
  const ipt = (c.iptables ?? {}) as Record<string, unknown>;
  if (ipt.masqueradeAll !== undefined && ipt.masqueradeAll !== null) {
    if (typeof ipt.masqueradeAll !== 'boolean') throw new Error(`iptables.masqueradeAll: want true or false, got ${JSON.stringify(ipt.masqueradeAll)}`);
    set('masquerade-all', ipt.masqueradeAll, 'iptables.masqueradeAll');
  }
  if (ipt.localhostNodePorts !== undefined && ipt.localhostNodePorts !== null) {
    if (typeof ipt.localhostNodePorts !== 'boolean') throw new Error(`iptables.localhostNodePorts: want true or false, got ${JSON.stringify(ipt.localhostNodePorts)}`);
    set('iptables-localhost-nodeports', String(ipt.localhostNodePorts), 'iptables.localhostNodePorts');
  }
  const ipvs = (c.ipvs ?? {}) as Record<string, unknown>;
  if (!isEmpty(ipvs.scheduler)) set('ipvs-scheduler', str(ipvs.scheduler, 'ipvs.scheduler'), 'ipvs.scheduler');
  return { flags, fields, ignored };
}
