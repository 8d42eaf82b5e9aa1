// Reads the programmed ruleset back (iptables-save) into inspect rows: each
// KUBE-SERVICES dispatch rule, followed through its KUBE-SVC chain to the DNAT targets.
import type { InspectRow } from '../../proxier/backend.js';
import { optionValue, parseSave } from './rule-tokens.js';

export function inspectFromSave(natSave: string, filterSave: string): InspectRow[] {
  const nat = parseSave(natSave);
  const rulesOf = new Map<string, string[][]>();
  for (const r of nat.rules) {
    const list = rulesOf.get(r.chain) ?? [];
    list.push(r.args);
    rulesOf.set(r.chain, list);
  }
  const rows: InspectRow[] = [];
  for (const args of rulesOf.get('KUBE-SERVICES') ?? []) {
    const target = optionValue(args, '-j');
    if (!target?.startsWith('KUBE-SVC-')) continue;
    const backends: string[] = [];
    for (const svcRule of rulesOf.get(target) ?? []) {
      const sep = optionValue(svcRule, '-j');
      if (!sep?.startsWith('KUBE-SEP-') || svcRule.includes('--rcheck')) continue;
      for (const sepRule of rulesOf.get(sep) ?? []) {
        const dest = optionValue(sepRule, '--to-destination');
        if (dest) backends.push(dest);
      }
    }
    rows.push(row(args, 'ClusterIP', backends));
  }
  for (const r of parseSave(filterSave).rules) {
    if (r.chain === 'KUBE-SERVICES' && optionValue(r.args, '-j') === 'REJECT') rows.push(row(r.args, 'ClusterIP', []));
  }
  return rows;
}

function row(args: string[], kind: string, backends: string[]): InspectRow {
  const comment = optionValue(args, '--comment') ?? '';
  const dst = (optionValue(args, '-d') ?? '?').replace(/\/(32|128)$/, '');
  const port = optionValue(args, '--dport') ?? '?';
  return {
    service: comment.replace(/ (cluster IP|has no endpoints)$/, ''),
    protocol: (optionValue(args, '-p') ?? '?').toUpperCase(),
    frontend: dst.includes(':') ? `[${dst}]:${port}` : `${dst}:${port}`,
    kind,
    backends,
  };
}
