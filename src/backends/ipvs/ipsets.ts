// The ipsets kube-proxy's IPVS mode keeps next to the virtual servers: they let a handful of
// fixed iptables rules (iptables-rules.ts) decide masquerade, hairpin and filtering for every
// service at once. One set per role and family (IPv6 names carry `KUBE-6-`, as kube-proxy).
import type { IPFamily, Protocol } from '../../model/types.js';

export type SetRole =
  | 'CLUSTER-IP'
  | 'LOOP-BACK'
  | 'EXTERNAL-IP'
  | 'EXTERNAL-IP-LOCAL'
  | 'LOAD-BALANCER'
  | 'LOAD-BALANCER-LOCAL'
  | 'NODE-PORT-TCP'
  | 'NODE-PORT-UDP'
  | 'NODE-PORT-SCTP-HASH'
  | 'NODE-PORT-LOCAL-TCP'
  | 'NODE-PORT-LOCAL-UDP'
  | 'NODE-PORT-LOCAL-SCTP-HASH'
  | 'HEALTH-CHECK-NODE-PORT'
  | 'IPVS-IPS'
  | 'LOAD-BALANCER-FW'
  | 'LOAD-BALANCER-SOURCE-CIDR'
  | 'LOAD-BALANCER-SOURCE-IP';

interface RoleSpec {
  type: 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'hash:ip' | 'bitmap:port';
  /** Why the set exists (the reason a rule matches it). */
  doc: string;
}

export const SET_ROLES: Record<SetRole, RoleSpec> = {
  'CLUSTER-IP': { type: 'hash:ip,port', doc: 'every ClusterIP:port (masquerade from outside --cluster-cidr; accepted by KUBE-IPVS-FILTER)' },
  'LOOP-BACK': { type: 'hash:ip,port,ip', doc: 'endpoint,port,endpoint: hairpin traffic (a pod reaching itself) is masqueraded' },
  'EXTERNAL-IP': { type: 'hash:ip,port', doc: 'externalIP:port with externalTrafficPolicy Cluster (masqueraded)' },
  'EXTERNAL-IP-LOCAL': { type: 'hash:ip,port', doc: 'externalIP:port with externalTrafficPolicy Local (source kept)' },
  'LOAD-BALANCER': { type: 'hash:ip,port', doc: 'every LoadBalancer ingress IP:port' },
  'LOAD-BALANCER-LOCAL': { type: 'hash:ip,port', doc: 'LoadBalancer IP:port with externalTrafficPolicy Local (source kept)' },
  'NODE-PORT-TCP': { type: 'bitmap:port', doc: 'TCP node ports (masqueraded unless Local)' },
  'NODE-PORT-UDP': { type: 'bitmap:port', doc: 'UDP node ports' },
  // SCTP node ports are matched with the node address (kube-proxy's -HASH sets).
  'NODE-PORT-SCTP-HASH': { type: 'hash:ip,port', doc: 'node address,sctp:node port' },
  'NODE-PORT-LOCAL-TCP': { type: 'bitmap:port', doc: 'TCP node ports with externalTrafficPolicy Local' },
  'NODE-PORT-LOCAL-UDP': { type: 'bitmap:port', doc: 'UDP node ports with externalTrafficPolicy Local' },
  'NODE-PORT-LOCAL-SCTP-HASH': { type: 'hash:ip,port', doc: 'node address,sctp:node port with externalTrafficPolicy Local' },
  'HEALTH-CHECK-NODE-PORT': { type: 'bitmap:port', doc: 'healthCheckNodePorts: accepted by the filter table (the health server listens there)' },
  'IPVS-IPS': { type: 'hash:ip', doc: 'every address on kube-ipvs0: new connections to ports that are not services are rejected' },
  'LOAD-BALANCER-FW': { type: 'hash:ip,port', doc: 'LoadBalancer IP:port with loadBalancerSourceRanges: sources outside them are dropped' },
  'LOAD-BALANCER-SOURCE-CIDR': { type: 'hash:ip,port,net', doc: 'LoadBalancer IP,port,source range allowed in' },
  'LOAD-BALANCER-SOURCE-IP': { type: 'hash:ip,port,ip', doc: 'LoadBalancer IP,port,LB IP: the node itself (inside a range) reaching a local LB IP' },
};

export const ROLES = Object.keys(SET_ROLES) as SetRole[];

/** ipset names are at most 31 characters; a longer IPv6 name is cut there, as kube-proxy does. */
export function setName(role: SetRole, family: IPFamily): string {
  return family === 4 ? `KUBE-${role}` : `KUBE-6-${role}`.slice(0, 31);
}

/** Every set this backend owns, by name. */
export function allSetNames(): string[] {
  return ROLES.flatMap((r) => [setName(r, 4), setName(r, 6)]);
}

/**
 * Sets earlier versions of this backend created and this one does not (KUBE-NO-ENDPOINTS:
 * IPVS answers a virtual server without real servers with ICMP port unreachable itself;
 * bitmap:port SCTP node-port sets, now kube-proxy's hash:ip,port -HASH ones). Only
 * cleanup removes them.
 */
export const LEGACY_SET_NAMES = ['NO-ENDPOINTS', 'NODE-PORT-SCTP', 'NODE-PORT-LOCAL-SCTP'].flatMap((r) => [`KUBE-${r}`, `KUBE-6-${r}`]);

export function nodePortRole(protocol: Protocol, local: boolean): SetRole {
  return `NODE-PORT-${local ? 'LOCAL-' : ''}${protocol}${protocol === 'SCTP' ? '-HASH' : ''}` as SetRole;
}

/** A node port's member in its node-port set: the port (bitmap:port), for SCTP `ip,sctp:port`. */
export function nodePortMember(protocol: Protocol, ip: string, port: number): string {
  return protocol === 'SCTP' ? ipPortMember(ip, protocol, port) : String(port);
}

/** One member of one set; the comment names the service (read back by `inspect`). */
export interface SetEntry {
  set: string;
  member: string;
  comment?: string;
}

export function entryKey(e: Pick<SetEntry, 'set' | 'member'>): string {
  return `${e.set} ${e.member}`;
}

/** `ip,tcp:80` — the hash:ip,port member syntax (IPv6 unbracketed). */
export function ipPortMember(ip: string, protocol: Protocol, port: number): string {
  return `${ip},${protocol.toLowerCase()}:${port}`;
}

/** `ipset create` line (with -exist in restore mode an existing identical set is kept). */
export function createLine(name: string): string {
  const role = ROLES.find((r) => setName(r, 4) === name || setName(r, 6) === name);
  if (!role) throw new Error(`not an ipset of this backend: ${name}`);
  const spec = SET_ROLES[role];
  const family = name.startsWith('KUBE-6-') ? 'inet6' : 'inet';
  const typeArgs = spec.type === 'bitmap:port' ? 'range 0-65535' : `family ${family}`;
  return `create ${name} ${spec.type} ${typeArgs} comment`;
}

export type SetContents = Map<string, Map<string, string | undefined>>;

/**
 * Parses `ipset save` into set → member → comment, keeping only our sets. Members are
 * normalised the way we render them (ipset prints them back as given, lowercase protocol).
 */
export function parseIpsetSave(text: string, ours = new Set(allSetNames())): SetContents {
  const sets: SetContents = new Map();
  for (const line of text.split('\n')) {
    const m = /^(create|add) (\S+)(?: (\S+))?(.*)$/.exec(line.trim());
    if (!m || !ours.has(m[2]!)) continue;
    if (m[1] === 'create') {
      if (!sets.has(m[2]!)) sets.set(m[2]!, new Map());
      continue;
    }
    const comment = /comment "((?:[^"\\]|\\.)*)"/.exec(m[4] ?? '')?.[1];
    let members = sets.get(m[2]!);
    if (!members) sets.set(m[2]!, (members = new Map()));
    members.set(m[3]!, comment);
  }
  return sets;
}

function quoteComment(c: string): string {
  // ipset comments are at most 255 bytes; service names never contain quotes.
  return `"${c.replace(/["\\]/g, '').slice(0, 255)}"`;
}

/** `ipset restore -exist` input: create missing sets, add (or re-comment) and delete entries. */
export function renderIpsetRestore(opts: { create?: string[]; add?: SetEntry[]; del?: SetEntry[] }): string {
  const lines: string[] = [];
  for (const name of opts.create ?? []) lines.push(createLine(name));
  for (const e of opts.add ?? []) lines.push(`add ${e.set} ${e.member}${e.comment ? ` comment ${quoteComment(e.comment)}` : ''}`);
  for (const e of opts.del ?? []) lines.push(`del ${e.set} ${e.member}`);
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
