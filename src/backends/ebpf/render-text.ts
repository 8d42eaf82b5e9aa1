// `bpfproxy render --backend ebpf`: the map entries a first sync writes, as text (no kernel):
// the same render() a sync diffs against the kernel, here against empty maps.
import type { ServiceTable } from '../../model/types.js';
import {
  BE_F_ACTIVE, BE_F_ACTIVE_EXT, BE_F_REMOTE, BE_F_TERMINATING, LB_SRC_SVC_BITS, SVC_F_AFFINITY, SVC_F_DROP_EMPTY, SVC_F_EXTERNAL, SVC_F_LOCALHOST,
  SVC_F_MAGLEV, SVC_F_NODEPORT, SVC_F_SNAT_ALL, SVC_F_SRC_RANGE, protoName,
} from './abi.js';
import { type LbOptions, render } from './render.js';
import { svcKeyId } from './state.js';

/** The map an entry is in: its IPv6 twin for an IPv6 address. */
const mapOf = (name: string, addr: string) => (addr.includes(':') ? `${name}6` : name);
/** address:port, the IPv6 address in brackets. */
const hostPort = (addr: string, port: number) => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

function flagNames(flags: number, names: Array<[number, string]>): string {
  const out = names.filter(([bit]) => flags & bit).map(([, n]) => n);
  return out.length ? out.join('|') : '0';
}

const SVC_FLAGS: Array<[number, string]> = [
  [SVC_F_AFFINITY, 'affinity'], [SVC_F_EXTERNAL, 'external'], [SVC_F_NODEPORT, 'nodeport'], [SVC_F_DROP_EMPTY, 'drop-empty'], [SVC_F_SNAT_ALL, 'snat-all'],
  [SVC_F_SRC_RANGE, 'src-range'], [SVC_F_LOCALHOST, 'localhost'], [SVC_F_MAGLEV, 'maglev'],
];
const BE_FLAGS: Array<[number, string]> = [[BE_F_ACTIVE, 'active'], [BE_F_ACTIVE_EXT, 'active-ext'], [BE_F_TERMINATING, 'terminating'], [BE_F_REMOTE, 'remote']];

/** `opts.localhostNodePorts`: also the 127.0.0.1 NodePorts (what a sync with the same flags writes).
 * A maglev table is shown by its size and backends, not entry by entry. */
export function renderText(table: ServiceTable, opts: { localhostNodePorts?: boolean; lb?: LbOptions } = {}): string {
  const { parts, skipped } = render(table, undefined, opts);
  const lines: string[] = [];
  for (const p of parts.values()) {
    if (p.frontends.length === 0) continue;
    lines.push(`# ${p.frontends[0]!.service}/${protoName(p.frontends[0]!.proto)} sp_id=${p.spId}`);
    for (const [id, b] of [...p.state.backends].sort(([a], [b]) => a - b))
      lines.push(`${mapOf('backends', b.ip)} ${id} = {ip=${b.ip} port=${b.port} proto=${b.proto} flags=${flagNames(b.flags, BE_FLAGS)} sp_id=${b.spId}}`);
    for (const f of p.frontends) {
      const k0 = { vip: f.vip, port: f.port, proto: f.proto, slot: 0 };
      const s0 = p.state.services.get(svcKeyId(k0))!.value;
      const services = mapOf('services', f.vip);
      lines.push(`# ${f.kind} ${hostPort(f.vip, f.port)}/${protoName(f.proto)} svc_id=${f.svcId}`);
      lines.push(
        `${services} {vip=${f.vip} dport=${f.port} proto=${f.proto} slot=0} = {sp_id=${s0.backendId} count=${s0.count} svc_id=${s0.svcId} ` +
          `flags=${flagNames(s0.flags, SVC_FLAGS)} affinity_timeout=${s0.affinityTimeout}}`,
      );
      for (let slot = 1; slot <= s0.count; slot++) {
        const v = p.state.services.get(svcKeyId({ ...k0, slot }))!.value;
        lines.push(`${services} {vip=${f.vip} dport=${f.port} proto=${f.proto} slot=${slot}} = {backend_id=${v.backendId}}`);
      }
      const rn = p.state.revNat.get(f.svcId)!;
      lines.push(`${mapOf('rev_nat', rn.vip)} ${f.svcId} = {vip=${rn.vip} port=${rn.port}}`);
      const m = p.state.meta.get(f.svcId)!;
      lines.push(`svc_meta ${f.svcId} = {name=${m.name} kind=${m.kind}}`);
      for (const k of p.state.srcRanges.values())
        if (k.svcId === f.svcId) lines.push(`lb_src_range {svc_id=${k.svcId} ${k.addr}/${k.prefixlen - LB_SRC_SVC_BITS}} = {allowed=1}`);
      const mg = p.state.maglev.get(f.svcId);
      if (mg) lines.push(`maglev ${f.svcId} = {table_size=${mg.ids.length} backends=${mg.backends}}`);
    }
    lines.push('');
  }
  for (const s of skipped) lines.push(`# skipped ${s.service}: ${s.reason}`);
  return lines.join('\n') + (lines.length ? '\n' : '');
}
