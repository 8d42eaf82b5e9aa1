// Ruleset packet tracer: follows the first packet of a connection through iptables-save
// text (nat + filter) the way netfilter would — nat PREROUTING (or OUTPUT for the node's
// own traffic), routing, filter INPUT/FORWARD/OUTPUT, nat POSTROUTING — and answers where
// it ends up. `statistic` rules branch: every reachable endpoint is reported with its
// probability. Used by unit tests (render → trace → assert, like kube-proxy's packet-flow
// tests) and by `bpfproxy trace` on the live ruleset.
import { tokenize } from '../netfilter/save.js';
import { type MatchContext, type PacketState, isLocal, matchProbability, targetEffect } from './trace-match.js';

export interface TracePacket {
  src: string;
  dst: string;
  dport: number;
  proto: 'tcp' | 'udp';
  sport?: number;
  /** The node's own addresses (`--dst-type LOCAL`); loopback is always local. */
  localAddresses: readonly string[];
  inIface?: string;
  outIface?: string;
}

export type Verdict = 'DNAT' | 'REJECT' | 'DROP' | 'ACCEPT';

export interface TraceOutcome {
  verdict: Verdict;
  probability: number;
  endpoint?: { ip: string; port: number };
  masquerade: boolean;
  path: string[];
}

export interface TraceResult {
  /** DNAT destinations with the chance of each (sums to the DNAT share of all paths). */
  endpoints: { ip: string; port: number; probability: number; masquerade: boolean }[];
  /** Whether any accepted path is masqueraded (per endpoint: `endpoints[i].masquerade`). */
  masquerade: boolean;
  /** DNAT if any path is DNATed and accepted; otherwise the most likely verdict. */
  verdict: Verdict;
  outcomes: TraceOutcome[];
  /** Rules the tracer could not model exactly (taken as described). */
  unsupported: string[];
}

interface Chain {
  policy?: string;
  rules: string[][];
}
export type Ruleset = Map<string, Map<string, Chain>>;

/** iptables-save text (any tables, sections may repeat) → table → chain → rules. */
export function parseRuleset(text: string): Ruleset {
  const tables: Ruleset = new Map();
  let cur: Map<string, Chain> | undefined;
  const chain = (name: string) => {
    let c = cur!.get(name);
    if (!c) cur!.set(name, (c = { rules: [] }));
    return c;
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      cur = tables.get(name) ?? new Map();
      tables.set(name, cur);
    } else if (!cur) continue;
    else if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(' ');
      const c = chain(name!);
      if (policy && policy !== '-') c.policy = policy;
    } else if (line.startsWith('-A ')) {
      const args = tokenize(line);
      chain(args[1]!).rules.push(args.slice(2));
    } else if (line.startsWith('-X ')) {
      cur.delete(line.slice(3).trim());
    }
  }
  return tables;
}

type End = 'accept' | 'drop' | 'reject' | 'fallthrough';
interface Step {
  s: PacketState;
  end: End;
}

const MAX_DEPTH = 64;

class Walker {
  private readonly chains: Set<string>;

  constructor(
    private readonly table: Map<string, Chain>,
    private readonly ctx: MatchContext,
  ) {
    this.chains = new Set(table.keys());
  }

  /** Runs a built-in chain; falling off its end applies the policy (default ACCEPT). */
  hook(name: string, s: PacketState): Step[] {
    const c = this.table.get(name);
    if (!c) return [{ s, end: 'accept' }];
    return this.from(name, 0, s, 0).map((st) => (st.end === 'fallthrough' ? { s: st.s, end: c.policy === 'DROP' ? 'drop' : 'accept' } : st));
  }

  private from(chain: string, start: number, s0: PacketState, depth: number): Step[] {
    if (depth > MAX_DEPTH) {
      this.ctx.unsupported.add(`chain nesting deeper than ${MAX_DEPTH} at ${chain} (loop?)`);
      return [{ s: s0, end: 'drop' }];
    }
    const rules = this.table.get(chain)?.rules ?? [];
    let s = s0;
    for (let i = start; i < rules.length; i++) {
      const p = matchProbability(rules[i]!, s, this.ctx);
      if (p === 0) continue;
      if (p < 1) {
        // A statistic branch: both the taken and the not-taken path continue.
        const taken = this.apply(chain, i, { ...s, probability: s.probability * p }, depth);
        const rest = this.from(chain, i + 1, { ...s, probability: s.probability * (1 - p) }, depth);
        return [...taken, ...rest];
      }
      return this.apply(chain, i, s, depth);
    }
    return [{ s, end: 'fallthrough' }];
  }

  private apply(chain: string, i: number, s: PacketState, depth: number): Step[] {
    const args = this.table.get(chain)!.rules[i]!;
    const eff = targetEffect(args, this.chains, this.ctx);
    switch (eff.kind) {
      case 'continue':
        return this.from(chain, i + 1, s, depth);
      case 'return':
        return [{ s, end: 'fallthrough' }];
      case 'accept':
      case 'drop':
      case 'reject':
        return [{ s, end: eff.kind }];
      case 'mark':
        return this.from(chain, i + 1, { ...s, mark: eff.apply(s.mark) }, depth);
      case 'dnat': {
        const port = eff.port ?? s.dport;
        return [{ s: { ...s, dst: eff.ip, dport: port, dnat: { ip: eff.ip, port } }, end: 'accept' }];
      }
      case 'masquerade':
        return [{ s: { ...s, masquerade: true }, end: 'accept' }];
      case 'jump': {
        const sub = this.from(eff.chain, 0, { ...s, path: [...s.path, eff.chain] }, depth + 1);
        if (eff.goto) return sub;
        return sub.flatMap((st) => (st.end === 'fallthrough' ? this.from(chain, i + 1, st.s, depth) : [st]));
      }
    }
  }
}

/** Follows `pkt` through `ruleset` (iptables-save text of nat and filter, or parsed). */
export function traceRuleset(ruleset: string | Ruleset, pkt: TracePacket): TraceResult {
  const rs = typeof ruleset === 'string' ? parseRuleset(ruleset) : ruleset;
  const ctx: MatchContext = { localAddresses: pkt.localAddresses, inIface: pkt.inIface, outIface: pkt.outIface, unsupported: new Set() };
  const nat = new Walker(rs.get('nat') ?? new Map(), ctx);
  const filter = new Walker(rs.get('filter') ?? new Map(), ctx);
  const fromNode = isLocal(pkt.src, ctx);
  const start: PacketState = {
    src: pkt.src,
    dst: pkt.dst,
    sport: pkt.sport ?? 40000,
    dport: pkt.dport,
    proto: pkt.proto,
    mark: 0,
    masquerade: false,
    path: [],
    probability: 1,
  };

  const outcomes: TraceOutcome[] = [];
  const done = (s: PacketState, verdict: Verdict) =>
    outcomes.push({ verdict, probability: s.probability, endpoint: s.dnat, masquerade: s.masquerade, path: s.path });

  for (const a of nat.hook(fromNode ? 'OUTPUT' : 'PREROUTING', { ...start, path: [fromNode ? 'nat/OUTPUT' : 'nat/PREROUTING'] })) {
    if (a.end !== 'accept') {
      done(a.s, a.end === 'reject' ? 'REJECT' : 'DROP');
      continue;
    }
    // Routing after DNAT: to the node itself (INPUT) or onwards (FORWARD); own traffic passes OUTPUT first.
    const toNode = isLocal(a.s.dst, ctx);
    const hooks = fromNode ? ['OUTPUT', ...(toNode ? ['INPUT'] : [])] : [toNode ? 'INPUT' : 'FORWARD'];
    let alive: PacketState[] = [a.s];
    for (const h of hooks) {
      const next: PacketState[] = [];
      for (const s of alive) {
        for (const f of filter.hook(h, { ...s, path: [...s.path, `filter/${h}`] })) {
          if (f.end === 'accept') next.push(f.s);
          else done(f.s, f.end === 'reject' ? 'REJECT' : 'DROP');
        }
      }
      alive = next;
    }
    for (const s of alive) {
      // Locally delivered packets from elsewhere skip POSTROUTING (nat INPUT is not modelled).
      const post = toNode && !fromNode ? [{ s, end: 'accept' as End }] : nat.hook('POSTROUTING', { ...s, path: [...s.path, 'nat/POSTROUTING'] });
      for (const p of post) {
        if (p.end === 'accept') done(p.s, p.s.dnat ? 'DNAT' : 'ACCEPT');
        else done(p.s, p.end === 'reject' ? 'REJECT' : 'DROP');
      }
    }
  }
  return summarize(outcomes, ctx);
}

function summarize(outcomes: TraceOutcome[], ctx: MatchContext): TraceResult {
  const eps = new Map<string, { ip: string; port: number; probability: number; masquerade: boolean }>();
  for (const o of outcomes) {
    if (o.verdict !== 'DNAT' || !o.endpoint) continue;
    const k = `${o.endpoint.ip}|${o.endpoint.port}`;
    const e = eps.get(k) ?? { ...o.endpoint, probability: 0, masquerade: false };
    e.probability += o.probability;
    e.masquerade ||= o.masquerade;
    eps.set(k, e);
  }
  const byVerdict = new Map<Verdict, number>();
  for (const o of outcomes) byVerdict.set(o.verdict, (byVerdict.get(o.verdict) ?? 0) + o.probability);
  const verdict: Verdict = eps.size > 0 ? 'DNAT' : ([...byVerdict].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'ACCEPT');
  return {
    endpoints: [...eps.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1)),
    masquerade: outcomes.some((o) => (o.verdict === 'DNAT' || o.verdict === 'ACCEPT') && o.masquerade),
    verdict,
    outcomes,
    unsupported: [...ctx.unsupported],
  };
}
