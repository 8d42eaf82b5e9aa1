// The records of the Kubernetes DNS-Based Service Discovery specification, answered from
// DnsObjects. The rules follow CoreDNS's kubernetes plugin (v1.15), which the tests diff
// us against (test/dns/coredns-differential.test.ts), including where it answers NXDOMAIN
// and where NODATA:
// - `<svc>.<ns>.svc.<zone>`: the cluster IPs (A/AAAA); for a headless Service, its ready
//   endpoints' addresses; for ExternalName, a CNAME.
// - `<host>.<svc>.<ns>.svc.<zone>`: the endpoint whose hostname (or dashed IP) is <host>.
// - `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV, targets with their A/AAAA as additionals.
// - `<a-b-c-d>.<ns>.pod.<zone>` under --dns-pods insecure|verified.
// - PTR in in-addr.arpa/ip6.arpa for cluster IPs, else endpoint addresses.
// - `dns-version.<zone>` TXT.
// A name that does not exist gets NXDOMAIN, a name that exists without the asked type gets
// NOERROR with no answer; both carry the zone's SOA in the authority section.
// An ExternalName target outside the zone is chased through --dns-upstream; without one the
// answer is the CNAME alone, as CoreDNS's is when its own lookup of the target fails.
// Deliberate differences: EndpointSlices of addressType FQDN are ignored (CoreDNS takes their
// strings as host names; no Kubernetes controller writes them), the apex NS names
// ns.dns.<zone> without glue (CoreDNS looks for its own Service among the endpoints), and
// publishNotReadyAddresses is honoured here as the EndpointSlice controller honours it.
import { isIP } from 'node:net';
import type { Answer, Question } from 'dns-packet';
import type { DnsObjects, DnsPort, DnsService } from './dns-objects.js';
import { RCODE, type Zone, type ZoneReply } from './server.js';

/** The schema version this follows (the specification's, as CoreDNS reports it). */
export const DNS_SCHEMA_VERSION = '1.1.0';
const REVERSE_ZONES = ['in-addr.arpa', 'ip6.arpa'];
const MAX_CNAME_CHAIN = 7;

export type PodMode = 'disabled' | 'insecure' | 'verified';

export interface ClusterZoneOptions {
  zone: string;
  ttl: number;
  pods: PodMode;
  /** Resolves a name outside the zone (ExternalName targets); absent: not chased. */
  resolveOutside?: (name: string, type: 'A' | 'AAAA') => Promise<Answer[]>;
}

/** One candidate record: an address (A/AAAA) or a name (ExternalName CNAME). */
interface Entry {
  host: string;
  /** -1: the slice has no ports (no SRV). */
  port: number;
  /** The SRV target and the owner of its additional address. */
  target: string;
}

interface LookupContext {
  /** Names outside the zone to ask the upstream, and where in the answer theirs go. */
  pending: Array<{ host: string; type: 'A' | 'AAAA'; at: number }>;
}

/** Entries, or a name error (NXDOMAIN). */
type Found = { entries: Entry[] } | 'nxdomain';

interface NameRequest {
  podOrSvc: 'svc' | 'pod' | '';
  namespace: string;
  service: string;
  endpoint: string;
  port: string;
  protocol: string;
}

const strip = (s: string) => (s.startsWith('_') ? s.slice(1) : s);
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const portMatches = (want: string, name: string, wantProto: string, proto: string) =>
  (want === '' || same(want, name)) && (wantProto === '' || same(wantProto, proto));

/** `<a>.<b>.<svc>.<ns>.svc`: the labels below the zone, read from the right. */
function parseName(relative: string): NameRequest | 'invalid' {
  const r: NameRequest = { podOrSvc: '', namespace: '', service: '', endpoint: '', port: '', protocol: '' };
  if (relative === '' || relative === 'svc' || relative === 'pod') return r;
  const segs = relative.split('.');
  let last = segs.length - 1;
  const kind = segs[last]!;
  if (kind !== 'svc' && kind !== 'pod') return 'invalid';
  r.podOrSvc = kind;
  if (--last < 0) return r;
  r.namespace = segs[last]!;
  if (--last < 0) return r;
  r.service = segs[last]!;
  if (--last < 0) return r;
  if (last === 0) r.endpoint = segs[0]!;
  else if (last === 1) {
    r.protocol = strip(segs[1]!);
    r.port = strip(segs[0]!);
  } else return 'invalid';
  return r;
}

/** The name an endpoint gets under its Service: its hostname, else its address, dashed. */
export function endpointHostname(address: string, hostname?: string): string {
  if (hostname) return hostname;
  if (address.includes('.')) return address.replaceAll('.', '-');
  const dashed = address.replaceAll(':', '-');
  return dashed.endsWith('-') ? `${dashed}0` : dashed;
}

/** The IP a reverse name stands for (all four / all 32 labels), or '' for partial names. */
export function reverseToIP(name: string): string {
  if (name.endsWith('.in-addr.arpa')) {
    const labels = name.slice(0, -'.in-addr.arpa'.length).split('.');
    const ip = labels.reverse().join('.');
    return labels.length === 4 && isIP(ip) === 4 ? ip : '';
  }
  if (name.endsWith('.ip6.arpa')) {
    const nibbles = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return '';
    const hex = nibbles.reverse().join('');
    const groups = hex.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
    return compressIPv6(groups);
  }
  return '';
}

/** RFC 5952 text form from 8 groups (the form the API server stores). */
function compressIPv6(groups: string[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export class ClusterZone implements Zone {
  private readonly zones: string[];
  /** Until the source has listed everything, "no such name" is not known: SERVFAIL instead. */
  synced = false;

  constructor(
    private readonly objects: DnsObjects,
    private readonly opts: ClusterZoneOptions,
  ) {
    this.zones = [opts.zone, ...REVERSE_ZONES];
  }

  /** The zone `name` falls in (lower case), or undefined. */
  private zoneOf(name: string): string | undefined {
    return this.zones.find((z) => name === z || name.endsWith(`.${z}`));
  }

  /** Changes whenever an answer could: any object change, and the end of the initial list. */
  generation(): number {
    return this.objects.generation * 2 + (this.synced ? 1 : 0);
  }

  covers(name: string): boolean {
    return this.zoneOf(name.toLowerCase()) !== undefined;
  }

  /**
   * The answer to one question: synchronous from the objects, except when an ExternalName
   * target outside the zone has to be asked of the upstream (then a Promise).
   */
  lookup(q: Question): ZoneReply | Promise<ZoneReply> {
    const name = q.name.toLowerCase().replace(/\.$/, '');
    const zone = this.zoneOf(name)!;
    const ctx: LookupContext = { pending: [] };
    const answers = this.answer(q.name, name, zone, q.type, ctx);
    if (ctx.pending.length === 0) return this.reply(zone, answers, true);
    // Upstream answers go in where their CNAMEs are, last first so positions hold. An answer
    // that took the upstream's records is not ours to keep (not cacheable).
    const list = (answers as { answers: Answer[] }).answers;
    return Promise.all(ctx.pending.map((p) => this.opts.resolveOutside!(p.host, p.type).catch(() => [] as Answer[]))).then((found) => {
      for (let i = ctx.pending.length - 1; i >= 0; i--) list.splice(ctx.pending[i]!.at, 0, ...found[i]!);
      return this.reply(zone, answers, false);
    });
  }

  private reply(zone: string, answers: { answers: Answer[]; additionals: Answer[] } | 'nxdomain' | 'refused', cacheable: boolean): ZoneReply {
    if (answers === 'refused') return { rcode: RCODE.REFUSED, answers: [], authorities: [], additionals: [], cacheable };
    if (answers === 'nxdomain') return { rcode: this.synced ? RCODE.NXDOMAIN : RCODE.SERVFAIL, answers: [], authorities: [this.soa(zone)], additionals: [], cacheable };
    if (answers.answers.length === 0) return { rcode: RCODE.NOERROR, answers: [], authorities: [this.soa(zone)], additionals: [], cacheable };
    return { rcode: RCODE.NOERROR, answers: answers.answers, authorities: [], additionals: answers.additionals, cacheable };
  }

  private soa(zone: string): Answer {
    const ttl = this.opts.ttl;
    return {
      type: 'SOA',
      name: zone,
      ttl: Math.min(ttl, 300),
      class: 'IN',
      data: { mname: `ns.dns.${zone}`, rname: `hostmaster.${zone}`, serial: this.objects.modifiedAt >>> 0, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl },
    };
  }

  private answer(
    qname: string,
    name: string,
    zone: string,
    type: string,
    ctx: LookupContext,
  ): { answers: Answer[]; additionals: Answer[] } | 'nxdomain' | 'refused' {
    const ttl = this.opts.ttl;
    const none = { answers: [], additionals: [] };
    switch (type) {
      case 'A':
      case 'AAAA': {
        const found = this.records(name, zone);
        if (found === 'nxdomain') return found;
        const out: Answer[] = [];
        this.addresses(qname, name, type, found.entries, 0, ctx, out);
        return { answers: out, additionals: [] };
      }
      case 'TXT': {
        if (name === `dns-version.${zone}`) {
          return { answers: [{ type: 'TXT', name: qname, ttl: 28800, class: 'IN', data: DNS_SCHEMA_VERSION }], additionals: [] };
        }
        // Another type's name: NODATA; otherwise NXDOMAIN (even where A would be NODATA).
        const found = this.records(name, zone);
        return found !== 'nxdomain' && found.entries.length > 0 ? none : 'nxdomain';
      }
      case 'CNAME': {
        const found = this.records(name, zone);
        if (found === 'nxdomain') return found;
        const first = found.entries[0];
        if (first && isIP(first.host) === 0) return { answers: [{ type: 'CNAME', name: qname, ttl, class: 'IN', data: first.host }], additionals: [] };
        return none;
      }
      case 'PTR': {
        const ip = reverseToIP(name);
        if (ip === '') {
          const found = this.records(name, zone);
          return found === 'nxdomain' ? found : none;
        }
        const targets = this.ptrTargets(ip);
        if (targets.length === 0) return 'nxdomain';
        return { answers: targets.map((t) => ({ type: 'PTR', name: qname, ttl, class: 'IN', data: t }) as Answer), additionals: [] };
      }
      case 'SRV': {
        const found = this.records(name, zone);
        if (found === 'nxdomain') return found;
        return this.srv(qname, found.entries.filter((e) => isIP(e.host) !== 0));
      }
      case 'SOA':
        return name === zone ? { answers: [this.soa(zone)], additionals: [] } : none;
      case 'NS':
        if (name === zone) return { answers: [{ type: 'NS', name: qname, ttl, class: 'IN', data: `ns.dns.${zone}` }], additionals: [] };
        break;
      case 'AXFR':
      case 'IXFR':
        return 'refused';
    }
    // Any other type: the name exists (NODATA) or not (NXDOMAIN), as an A lookup says.
    const found = this.records(name, zone);
    return found === 'nxdomain' ? found : none;
  }

  /**
   * Appends the A/AAAA answers for entries to `out`, following ExternalName CNAMEs: in the
   * zone at once, outside it by noting where the upstream's answer goes (ctx.pending).
   */
  private addresses(qname: string, name: string, type: 'A' | 'AAAA', entries: Entry[], depth: number, ctx: LookupContext, out: Answer[]): void {
    const ttl = this.opts.ttl;
    const seen = new Set<string>();
    for (const e of entries) {
      const family = isIP(e.host);
      if (family === 0) {
        // A target at or below the name itself loops; a chain too long stops.
        if (e.host === name || e.host.endsWith(`.${name}`) || depth >= MAX_CNAME_CHAIN) continue;
        const at = out.length;
        out.push({ type: 'CNAME', name: qname, ttl, class: 'IN', data: e.host });
        if (this.zoneOf(e.host) === this.opts.zone) {
          const next = this.records(e.host, this.opts.zone);
          if (next !== 'nxdomain') this.addresses(e.host, e.host, type, next.entries, depth + 1, ctx, out);
          // A target in the zone with nothing to give: no CNAME either (CoreDNS's rule).
          if (out.length === at + 1 && !ctx.pending.some((p) => p.at > at)) out.pop();
        } else if (this.opts.resolveOutside) ctx.pending.push({ host: e.host, type, at: out.length });
        continue;
      }
      if ((family === 4) !== (type === 'A') || seen.has(e.host)) continue;
      seen.add(e.host);
      out.push({ type, name: qname, ttl, class: 'IN', data: e.host });
    }
  }

  /** SRV records (weights split 100 over all entries) and their targets' addresses. */
  private srv(qname: string, entries: Entry[]): { answers: Answer[]; additionals: Answer[] } {
    const ttl = this.opts.ttl;
    const weight = Math.max(1, Math.floor(100 / entries.length));
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.port === -1) continue;
      if (!seen.has(`${e.target}|${e.port}`)) {
        seen.add(`${e.target}|${e.port}`);
        answers.push({ type: 'SRV', name: qname, ttl, class: 'IN', data: { priority: 0, weight, port: e.port, target: e.target } });
      }
      if (!seen.has(`${e.target}|${e.host}`)) {
        seen.add(`${e.target}|${e.host}`);
        additionals.push({ type: isIP(e.host) === 4 ? 'A' : 'AAAA', name: e.target, ttl, class: 'IN', data: e.host });
      }
    }
    return { answers, additionals };
  }

  private ptrTargets(ip: string): string[] {
    const zone = this.opts.zone;
    const svc = this.objects.servicesWithClusterIP(ip)[0];
    if (svc) return [`${svc.name}.${svc.namespace}.svc.${zone}`];
    const out = new Set<string>();
    for (const slice of this.objects.slicesWithEndpoint(ip)) {
      for (const e of this.objects.named(slice)) {
        if (e.address === ip) out.add(`${endpointHostname(e.address, e.hostname)}.${slice.serviceName}.${slice.namespace}.svc.${zone}`);
      }
    }
    return [...out];
  }

  /** What a name under the zone stands for (CoreDNS's Records). */
  private records(name: string, zone: string): Found {
    const relative = name === zone ? '' : name.slice(0, -(zone.length + 1));
    const r = parseName(relative);
    if (r === 'invalid') return 'nxdomain';
    if (r.podOrSvc === '') return { entries: [] };
    // Below the reverse zones only PTR names mean something (ptrTargets).
    if (zone !== this.opts.zone || !this.objects.hasNamespace(r.namespace)) return 'nxdomain';
    return r.podOrSvc === 'pod' ? this.pods(r) : this.services(r);
  }

  private pods(r: NameRequest): Found {
    if (this.opts.pods === 'disabled') return 'nxdomain';
    if (r.service === '') return { entries: [] };
    const label = r.service;
    const ip = (label.match(/-/g)?.length ?? 0) === 3 && !label.includes('--') ? label.replaceAll('-', '.') : label.replaceAll('-', ':');
    // Port 0, not -1: a pod name answers SRV too (CoreDNS's item has port 0).
    const entry = { host: ip, port: 0, target: `${label}.${r.namespace}.pod.${this.opts.zone}` };
    if (this.opts.pods === 'insecure') return isIP(ip) === 0 ? 'nxdomain' : { entries: [entry] };
    return this.objects.hasPod(r.namespace, ip) ? { entries: [entry] } : 'nxdomain';
  }

  private services(r: NameRequest): Found {
    if (r.service === '') return { entries: [] };
    const svc = this.objects.services.get(`${r.namespace}/${r.service}`);
    if (!svc) return 'nxdomain';
    const base = `${svc.name}.${svc.namespace}.svc.${this.opts.zone}`;
    const entries: Entry[] = [];
    if (svc.kind === 'external') {
      if (r.endpoint !== '' || r.port !== '' || r.protocol !== '' || isIP(svc.externalName!) !== 0) return 'nxdomain';
      return { entries: [{ host: svc.externalName!, port: 0, target: base }] };
    }
    if (svc.kind === 'headless' || r.endpoint !== '') {
      for (const slice of this.objects.slicesOfService(`${svc.namespace}/${svc.name}`)) {
        const ports: DnsPort[] = slice.ports.length > 0 ? slice.ports : [{ name: '', port: -1, protocol: '' }];
        for (const e of this.objects.named(slice)) {
          const host = endpointHostname(e.address, e.hostname);
          if (r.endpoint !== '' && !same(r.endpoint, host)) continue;
          for (const p of ports) {
            if (portMatches(r.port, p.name, r.protocol, p.protocol)) entries.push({ host: e.address, port: p.port, target: `${host}.${base}` });
          }
        }
      }
      return entries.length > 0 ? { entries } : 'nxdomain';
    }
    return this.clusterIPEntries(svc, r, base);
  }

  private clusterIPEntries(svc: DnsService, r: NameRequest, base: string): Found {
    const entries: Entry[] = [];
    for (const p of svc.ports) {
      if (!portMatches(r.port, p.name, r.protocol, p.protocol)) continue;
      for (const ip of svc.ips) entries.push({ host: ip, port: p.port, target: base });
    }
    // No matching port: the name does not exist (CoreDNS's rule, also for port-less Services).
    return entries.length > 0 ? { entries } : 'nxdomain';
  }
}
