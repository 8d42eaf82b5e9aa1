// iptables-restore --noflush input that removes chains: declaring a chain flushes it, then
// every declared chain can be deleted in the same transaction (used by both cleanups).
export type ChainsByTable = Partial<Record<'filter' | 'nat' | 'mangle', readonly string[]>>;

export function renderChainRemoval(present: ChainsByTable): string {
  let lines: string[] = [];
  for (const t of ['filter', 'nat', 'mangle'] as const) {
    const chains = present[t] ?? [];
    if (chains.length === 0) continue;
    // concat, not push(...): a large cluster has 100k+ chains, too many for spread arguments
    lines = lines.concat([`*${t}`], chains.map((c) => `:${c} - [0:0]`), chains.map((c) => `-X ${c}`), ['COMMIT']);
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
