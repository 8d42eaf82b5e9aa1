// A sync plan as the commands it stands for (`bpfproxy render --backend=ipvs`): what an
// operator would type to reproduce it by hand.
import type { IPFamily } from '../../model/types.js';
import { renderIpsetRestore } from './ipsets.js';
import { DUMMY } from './kernel.js';
import type { SyncPlan } from './plan.js';

export function renderPlanText(plan: SyncPlan, rules: Array<{ family: IPFamily; text: string }>): string {
  const out: string[] = [`# ip link add ${DUMMY} type dummy; ip link set ${DUMMY} up`];
  for (const s of plan.steps) for (const a of s.addAddresses) out.push(`ip addr add ${a}/${a.includes(':') ? 128 : 32} dev ${DUMMY}`);
  for (const f of plan.failed) out.push(`# NOT PROGRAMMED: ${f.error}`);
  out.push('', '# ipvsadm -R', ...plan.steps.flatMap((s) => s.ipvs), ...plan.deleteVirtualServers);
  out.push('', '# ipset restore -exist', renderIpsetRestore({ add: plan.addEntries, del: plan.deleteEntries }).trimEnd());
  for (const r of rules) out.push('', `# IPv${r.family}: ${r.family === 4 ? 'iptables' : 'ip6tables'}-restore --noflush`, r.text.trimEnd());
  return out.join('\n') + '\n';
}
