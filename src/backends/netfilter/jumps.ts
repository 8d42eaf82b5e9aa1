// Rules in the built-in chains that lead into ours (kube-proxy's iptablesJumpChains), for
// both netfilter backends: iptables-restore --noflush cannot add them idempotently, so the
// CLI ensures them one by one (-C / -I); ipvs also adds missing ones inside its restore.
export interface JumpRule {
  table: 'filter' | 'nat';
  from: string;
  to: string;
  args: string[];
}

/** An argument as iptables-save prints it: quoted when it has spaces or quotes. */
export function quote(s: string): string {
  return /[\s"]/.test(s) ? `"${s.replace(/"/g, '\\"')}"` : s;
}

/** A jump rule as iptables-save prints it, without the leading -A/-I. */
export function jumpSpec(j: JumpRule): string {
  return `${j.from} ${j.args.map(quote).join(' ')} -j ${j.to}`;
}
