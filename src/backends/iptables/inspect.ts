// Reads the programmed ruleset back (iptables-save) into inspect rows: each frontend rule
// in nat KUBE-SERVICES / KUBE-NODEPORTS, followed through KUBE-EXT/SVC/SVL chains to the
// DNAT targets; filter REJECT/DROP rules show frontends without (local) endpoints.
import type { InspectRow } from '../../proxier/backend.js';
import { optionValue, parseSave } from '../netfilter/save.js';

const KINDS: [RegExp, string][] = [
  [/ cluster IP$/, 'ClusterIP'],
  [/ external IP$/, 'ExternalIP'],
  [/ loadbalancer IP$/, 'LoadBalancer'],
];

export function inspectFromSave(natSave: string, filterSave: string): InspectRow[] {
  const rulesOf = new Map<string, string[][]>();
  for (const r of parseSave(natSave).rules) {
    const list = rulesOf.get(r.chain) ?? [];
    list.push(r.args);
    rulesOf.set(r.chain, list);
  }
  // DNAT targets reachable from a service chain; KUBE-EXT follows only its final policy
  // jump (the one external clients take), not the short-circuit rules for pods and the node.
  const backendsOf = (chain: string): string[] => {
    const rules = rulesOf.get(chain) ?? [];
    if (chain.startsWith('KUBE-EXT-')) {
      const last = rules[rules.length - 1];
      const t = last && last.length === 2 ? optionValue(last, '-j') : undefined;
      return t ? backendsOf(t) : [];
    }
    const out: string[] = [];
    for (const r of rules) {
      const sep = optionValue(r, '-j');
      if (!sep?.startsWith('KUBE-SEP-') || r.includes('--rcheck')) continue;
      for (const sepRule of rulesOf.get(sep) ?? []) {
        const dest = optionValue(sepRule, '--to-destination');
        if (dest) out.push(dest);
      }
    }
    return out;
  };
  const rows: InspectRow[] = [];
  for (const args of rulesOf.get('KUBE-SERVICES') ?? []) {
    const target = optionValue(args, '-j');
    if (!target || !/^KUBE-(SVC|SVL|EXT|FW)-/.test(target)) continue;
    const comment = optionValue(args, '--comment') ?? '';
    const kind = KINDS.find(([re]) => re.test(comment))?.[1] ?? 'ClusterIP';
    rows.push(row(args, kind, backendsOf(target)));
  }
  for (const args of rulesOf.get('KUBE-NODEPORTS') ?? []) {
    const target = optionValue(args, '-j');
    if (target?.startsWith('KUBE-EXT-')) rows.push(row(args, 'NodePort', backendsOf(target)));
  }
  for (const r of parseSave(filterSave).rules) {
    const verdict = optionValue(r.args, '-j');
    if (verdict !== 'REJECT' && verdict !== 'DROP') continue;
    if (r.chain === 'KUBE-SERVICES') rows.push(row(r.args, 'ClusterIP', []));
    else if (r.chain === 'KUBE-EXTERNAL-SERVICES') rows.push(row(r.args, r.args.includes('--dst-type') ? 'NodePort' : 'External', []));
  }
  return rows;
}

function row(args: string[], kind: string, backends: string[]): InspectRow {
  const comment = optionValue(args, '--comment') ?? '';
  const dst = (optionValue(args, '-d') ?? '*').replace(/\/(32|128)$/, '');
  const port = optionValue(args, '--dport') ?? '?';
  return {
    service: comment.replace(/ (cluster IP|external IP|loadbalancer IP|has no endpoints|has no local endpoints)$/, ''),
    protocol: (optionValue(args, '-p') ?? '?').toUpperCase(),
    frontend: dst.includes(':') ? `[${dst}]:${port}` : `${dst}:${port}`,
    kind,
    backends,
  };
}
