// The iptables backend's jump rules (kube-proxy's iptablesJumpChains), ensured one by one
// by the netfilter CLI after full syncs.
import { type JumpRule, jumpSpec } from '../netfilter/jumps.js';

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];

export const JUMP_RULES: JumpRule[] = [
  { table: 'filter', from: 'INPUT', to: 'KUBE-EXTERNAL-SERVICES', args: [...NEW, '-m', 'comment', '--comment', 'kubernetes externally-visible service portals'] },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-EXTERNAL-SERVICES', args: [...NEW, '-m', 'comment', '--comment', 'kubernetes externally-visible service portals'] },
  { table: 'filter', from: 'INPUT', to: 'KUBE-NODEPORTS', args: ['-m', 'comment', '--comment', 'kubernetes health check service ports'] },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-SERVICES', args: [...NEW, '-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-SERVICES', args: [...NEW, '-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', args: ['-m', 'comment', '--comment', 'kubernetes forwarding rules'] },
  { table: 'filter', from: 'INPUT', to: 'KUBE-PROXY-FIREWALL', args: [...NEW, '-m', 'comment', '--comment', 'kubernetes load balancer firewall'] },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-PROXY-FIREWALL', args: [...NEW, '-m', 'comment', '--comment', 'kubernetes load balancer firewall'] },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-PROXY-FIREWALL', args: [...NEW, '-m', 'comment', '--comment', 'kubernetes load balancer firewall'] },
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', args: ['-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', args: ['-m', 'comment', '--comment', 'kubernetes service portals'] },
  { table: 'nat', from: 'POSTROUTING', to: 'KUBE-POSTROUTING', args: ['-m', 'comment', '--comment', 'kubernetes postrouting rules'] },
  // Last, so inserted first: the localnet guard (KUBE-FIREWALL) comes before everything.
  { table: 'filter', from: 'INPUT', to: 'KUBE-FIREWALL', args: [] },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-FIREWALL', args: [] },
];

/** The jump rules as iptables-restore text (for the tracer in tests: render + jumps = a whole ruleset). */
export function jumpRulesText(): string {
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    out.push(`*${table}`);
    for (const j of JUMP_RULES.filter((r) => r.table === table)) out.push(`-A ${jumpSpec(j)}`);
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}
