// `bpfproxy render --backend ebpf`: the map entries a sync would write, as text (no kernel).
import type { ServiceTable } from '../../model/types.js';
import { BE_F_ACTIVE, BE_F_TERMINATING, SVC_F_AFFINITY, SVC_F_EXTERNAL, protoName } from './abi.js';
import { render } from './render.js';
import { emptyIds } from './state.js';

function flagNames(flags: number, names: Array<[number, string]>): string {
  const out = names.filter(([bit]) => flags & bit).map(([, n]) => n);
  return out.length ? out.join('|') : '0';
}

export function renderText(table: ServiceTable): string {
  const { desired, frontends, skipped } = render(table, emptyIds());
  const lines: string[] = [];
  for (const f of [...frontends.values()].sort((a, b) => a.svcId - b.svcId)) {
    const k0 = `${f.vip}:${f.port}/${protoName(f.proto)}#0`;
    const s0 = desired.services.get(k0)!.value;
    lines.push(`# ${f.service} ${f.kind} ${f.vip}:${f.port}/${protoName(f.proto)} svc_id=${f.svcId}`);
    lines.push(
      `services {vip=${f.vip} dport=${f.port} proto=${f.proto} slot=0} = {count=${s0.count} svc_id=${s0.svcId} ` +
        `flags=${flagNames(s0.flags, [[SVC_F_AFFINITY, 'affinity'], [SVC_F_EXTERNAL, 'external']])} affinity_timeout=${s0.affinityTimeout}}`,
    );
    for (let slot = 1; slot <= s0.count; slot++) {
      const v = desired.services.get(`${f.vip}:${f.port}/${protoName(f.proto)}#${slot}`)!.value;
      lines.push(`services {vip=${f.vip} dport=${f.port} proto=${f.proto} slot=${slot}} = {backend_id=${v.backendId}}`);
    }
    for (const [id, b] of [...desired.backends].filter(([, b]) => b.svcId === f.svcId).sort(([a], [b]) => a - b)) {
      lines.push(`backends ${id} = {ip=${b.ip} port=${b.port} proto=${b.proto} flags=${flagNames(b.flags, [[BE_F_ACTIVE, 'active'], [BE_F_TERMINATING, 'terminating']])}}`);
    }
    const rn = desired.revNat.get(f.svcId)!;
    lines.push(`rev_nat ${f.svcId} = {vip=${rn.vip} port=${rn.port}}`, '');
  }
  for (const s of skipped) lines.push(`# skipped ${s.service}: ${s.reason}`);
  return lines.join('\n') + (lines.length ? '\n' : '');
}
