// Splits an iptables-save rule line into arguments (double quotes group, \" escapes),
// and reads options from it. Shared by inspect and the ruleset tracer.
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (inQuote) {
      if (c === '\\' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') inQuote = false;
      else cur += c;
    } else if (c === '"') {
      inQuote = true;
      has = true;
    } else if (c === ' ' || c === '\t') {
      if (has || cur !== '') out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has || cur !== '') out.push(cur);
  return out;
}

export interface ParsedRule {
  chain: string;
  args: string[];
}

/** Parses `iptables-save` output of one table into chains (in order) and rules. */
export function parseSave(text: string): { chains: string[]; rules: ParsedRule[] } {
  const chains: string[] = [];
  const rules: ParsedRule[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) chains.push(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) {
      const args = tokenize(line);
      rules.push({ chain: args[1]!, args: args.slice(2) });
    }
  }
  return { chains, rules };
}

/** The value after `flag` (e.g. `-d`, `--dport`, `-j`), or undefined; `!` before the flag is ignored. */
export function optionValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
