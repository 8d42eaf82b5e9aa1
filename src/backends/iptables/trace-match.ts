// Rule evaluation for the ruleset tracer: how likely a rule matches a packet (0, 1, or a
// `statistic` probability), and what its target does. Understands the matches and
// targets kube-proxy's layout uses plus the usual neighbours (multiport, mark forms as
// iptables-save normalises them); anything else is reported, never silently guessed.
import { ipFamily } from '../../model/validate.js';
import { cidrContains, isLoopback } from '../../util/cidr.js';

export interface PacketState {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: 'tcp' | 'udp';
  mark: number;
  /** Set once a DNAT target rewrote the destination. */
  dnat?: { ip: string; port: number };
  masquerade: boolean;
  /** Chains (and statistic branches) this path went through, for explanations. */
  path: string[];
  probability: number;
}

export interface MatchContext {
  localAddresses: readonly string[];
  inIface?: string;
  outIface?: string;
  /** Notes about rules the tracer could not evaluate exactly. */
  unsupported: Set<string>;
}

/** Options that take no value (everything else starting with `--` takes one). */
const FLAGS = new Set([
  '--set', '--rcheck', '--update', '--remove', '--reap', '--rsource', '--rdest', '--syn',
  '--physdev-is-in', '--physdev-is-out', '--physdev-is-bridged', '--random-fully', '--random', '--persistent',
  '--limit-iface-in', '--limit-iface-out', '--mask',
]);
const TWO_VALUES = new Set(['--tcp-flags']);
/** How many value tokens follow a known option. */
function valuesOf(opt: string): number {
  if (TWO_VALUES.has(opt)) return 2;
  return FLAGS.has(opt) ? 0 : 1;
}

export function isLocal(ip: string, ctx: MatchContext): boolean {
  return isLoopback(ip) || ctx.localAddresses.includes(ip);
}

function parseMark(v: string): { value: number; mask: number } {
  const [value, mask] = v.split('/');
  return { value: Number(value) >>> 0, mask: mask === undefined ? 0xffffffff : Number(mask) >>> 0 };
}

function portIn(spec: string, port: number): boolean {
  return spec.split(',').some((part) => {
    const [lo, hi] = part.split(':').map(Number);
    return hi === undefined ? port === lo : port >= lo! && port <= hi;
  });
}

function protoMatches(spec: string, proto: 'tcp' | 'udp'): boolean {
  const s = spec.toLowerCase();
  return s === 'all' || s === '0' || s === proto || (proto === 'tcp' && s === '6') || (proto === 'udp' && s === '17');
}

function addrMatches(spec: string, ip: string): boolean {
  return spec.split(',').some((c) => ipFamily(ip) !== undefined && cidrContains(c, ip));
}

/** The chance (0..1) that the match part of `args` (everything before -j/-g) matches. */
export function matchProbability(args: readonly string[], s: PacketState, ctx: MatchContext): number {
  let p = 1;
  let negate = false;
  for (let i = 0; i < args.length && p > 0; i++) {
    const opt = args[i]!;
    if (opt === '-j' || opt === '-g') break;
    if (opt === '!') {
      negate = true;
      continue;
    }
    const next = args[i + 1];
    const val = next ?? '';
    let m: boolean | number | undefined;
    switch (opt) {
      case '-m':
      case '--match':
        i++;
        continue; // the module's options follow and are evaluated by name
      case '-p':
      case '--protocol':
        m = protoMatches(val, s.proto);
        break;
      case '-s':
      case '--source':
        m = addrMatches(val, s.src);
        break;
      case '-d':
      case '--destination':
        m = addrMatches(val, s.dst);
        break;
      case '-i':
      case '--in-interface':
        m = ctx.inIface !== undefined && (ctx.inIface === val || (val.endsWith('+') && ctx.inIface.startsWith(val.slice(0, -1))));
        if (ctx.inIface === undefined) ctx.unsupported.add(`-i ${val}: no input interface given (taken as not matching)`);
        break;
      case '-o':
      case '--out-interface':
        m = ctx.outIface !== undefined && (ctx.outIface === val || (val.endsWith('+') && ctx.outIface.startsWith(val.slice(0, -1))));
        if (ctx.outIface === undefined) ctx.unsupported.add(`-o ${val}: no output interface given (taken as not matching)`);
        break;
      case '--dport':
      case '--destination-port':
      case '--dports':
      case '--destination-ports':
        m = portIn(val, s.dport);
        break;
      case '--sport':
      case '--source-port':
      case '--sports':
      case '--source-ports':
        m = portIn(val, s.sport);
        break;
      case '--dst-type':
      case '--src-type': {
        const ip = opt === '--dst-type' ? s.dst : s.src;
        const types = val.split(',');
        if (types.some((t) => t !== 'LOCAL')) ctx.unsupported.add(`addrtype ${val}: only LOCAL is modelled`);
        m = types.includes('LOCAL') ? isLocal(ip, ctx) : true;
        break;
      }
      case '--ctstate':
      case '--state': {
        // The tracer follows the first packet of a connection.
        const states = new Set(['NEW', ...(s.dnat ? ['DNAT'] : [])]);
        m = val.split(',').some((st) => states.has(st));
        break;
      }
      case '--mark': {
        const { value, mask } = parseMark(val);
        m = ((s.mark & mask) >>> 0) === value;
        break;
      }
      case '--probability': {
        const q = Number(val);
        p *= negate ? 1 - q : q;
        negate = false;
        i++;
        continue;
      }
      case '--rcheck':
      case '--update':
        m = false; // a first packet has no recent-list entry yet (ClientIP affinity not established)
        break;
      case '--syn':
        m = s.proto === 'tcp';
        break;
      case '--physdev-is-in':
      case '--physdev-is-out':
      case '--physdev-is-bridged':
        m = false; // routed, not bridged
        break;
      case '--comment':
      case '--mode':
      case '--name':
      case '--seconds':
      case '--set':
      case '--reap':
      case '--rsource':
      case '--rdest':
      case '--nfacct-name':
        break; // no effect on whether a first packet matches
      default:
        ctx.unsupported.add(`match option ${opt} (taken as matching)`);
        if (next !== undefined && next !== '!' && !next.startsWith('-')) i++;
        negate = false;
        continue;
    }
    if (m !== undefined && (negate ? m : !m)) p = 0;
    negate = false;
    i += valuesOf(opt);
  }
  return p;
}

export type TargetEffect =
  | { kind: 'jump'; chain: string; goto: boolean }
  | { kind: 'return' | 'continue' }
  | { kind: 'accept' | 'drop' | 'reject' }
  | { kind: 'dnat'; ip: string; port?: number }
  | { kind: 'masquerade' }
  | { kind: 'mark'; apply: (mark: number) => number };

const BUILTIN_TERMINAL: Record<string, TargetEffect> = {
  ACCEPT: { kind: 'accept' },
  DROP: { kind: 'drop' },
  REJECT: { kind: 'reject' },
  RETURN: { kind: 'return' },
};

/** What the target of `args` does; `chains` tells user chains from unknown targets. */
export function targetEffect(args: readonly string[], chains: ReadonlySet<string>, ctx: MatchContext): TargetEffect {
  const ji = args.findIndex((a) => a === '-j' || a === '-g' || a === '--jump' || a === '--goto');
  if (ji < 0) return { kind: 'continue' };
  const target = args[ji + 1] ?? '';
  const opt = (name: string) => {
    const k = args.indexOf(name, ji);
    return k >= 0 ? args[k + 1] : undefined;
  };
  if (BUILTIN_TERMINAL[target]) return BUILTIN_TERMINAL[target]!;
  if (chains.has(target)) return { kind: 'jump', chain: target, goto: args[ji] === '-g' || args[ji] === '--goto' };
  switch (target) {
    case 'DNAT': {
      const to = opt('--to-destination') ?? '';
      const m = /^\[(.+)\](?::(\d+))?$/.exec(to) ?? /^([^:]+)(?::(\d+))?$/.exec(to) ?? /^(.+)$/.exec(to);
      return { kind: 'dnat', ip: m?.[1] ?? to, port: m?.[2] !== undefined ? Number(m[2]) : undefined };
    }
    case 'MASQUERADE':
    case 'SNAT':
      return { kind: 'masquerade' };
    case 'MARK': {
      const num = (v: string | undefined) => Number(v) >>> 0;
      if (opt('--or-mark') !== undefined) return { kind: 'mark', apply: (m) => (m | num(opt('--or-mark'))) >>> 0 };
      if (opt('--xor-mark') !== undefined) return { kind: 'mark', apply: (m) => (m ^ num(opt('--xor-mark'))) >>> 0 };
      if (opt('--and-mark') !== undefined) return { kind: 'mark', apply: (m) => (m & num(opt('--and-mark'))) >>> 0 };
      const x = opt('--set-xmark');
      if (x !== undefined) {
        const { value, mask } = parseMark(x);
        return { kind: 'mark', apply: (m) => ((m & ~mask) ^ value) >>> 0 };
      }
      const set = opt('--set-mark');
      if (set !== undefined) {
        const { value, mask } = parseMark(set);
        return { kind: 'mark', apply: (m) => ((m & ~mask) | value) >>> 0 };
      }
      ctx.unsupported.add(`MARK ${args.slice(ji + 2).join(' ')}`);
      return { kind: 'continue' };
    }
    case 'LOG':
    case 'NFLOG':
    case 'CONNMARK':
    case 'CT':
      return { kind: 'continue' };
    default:
      ctx.unsupported.add(`target ${target} (taken as non-terminating)`);
      return { kind: 'continue' };
  }
}
