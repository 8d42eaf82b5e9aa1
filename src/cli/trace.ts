// `bpfproxy trace`: where would a new connection go? Follows one packet through the live
// ruleset (iptables-save of the namespace we run in) and prints the endpoints it can
// reach with their probabilities, whether it is masqueraded, and the verdict.
import { ipFamily } from '../model/validate.js';
import type { CliOptions } from './options.js';

export interface TraceArgs {
  src?: string;
  dst?: string;
  proto?: string;
  json: boolean;
}

function parseDst(dst: string): { ip: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(dst) ?? /^([^:]+):(\d+)$/.exec(dst);
  if (!m || ipFamily(m[1]!) === undefined) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { ip: m[1]!, port } : undefined;
}

export async function traceCommand(opts: CliOptions, args: TraceArgs): Promise<number> {
  const dst = args.dst ? parseDst(args.dst) : undefined;
  const proto = (args.proto ?? 'tcp').toLowerCase();
  if (!args.src || ipFamily(args.src) === undefined || !dst || (proto !== 'tcp' && proto !== 'udp')) {
    process.stderr.write('bpfproxy trace: want --src IP --dst IP:PORT (or [IPv6]:PORT) [--proto tcp|udp]\n');
    return 2;
  }
  if (opts.backend !== 'iptables') {
    process.stderr.write(`bpfproxy trace: only --backend=iptables can be traced (got ${opts.backend})\n`);
    return 2;
  }
  const { traceRuleset } = await import('../backends/iptables/trace.js');
  const { localAddresses } = await import('../backends/iptables/node-addresses.js');
  const { IptablesCli } = await import('../backends/netfilter/iptables-cli.js');
  const cli = new IptablesCli(ipFamily(dst.ip)!, opts.backendConfig.iptablesMode);
  const save = (await cli.save('nat')) + (await cli.save('filter'));
  const r = traceRuleset(save, { src: args.src, dst: dst.ip, dport: dst.port, proto, localAddresses: localAddresses() });
  if (args.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  const lines = [`${proto.toUpperCase()} ${args.src} -> ${args.dst}: ${r.verdict}${r.masquerade ? ' (masqueraded)' : ''}`];
  for (const e of r.endpoints) {
    const hp = e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
    lines.push(`  -> ${hp.padEnd(28)} ${(e.probability * 100).toFixed(1).padStart(5)}%${e.masquerade ? '  masqueraded' : ''}`);
  }
  for (const o of r.outcomes.filter((x) => x.verdict !== 'DNAT')) lines.push(`  ${o.verdict} ${(o.probability * 100).toFixed(1)}% via ${o.path.join(' > ')}`);
  for (const u of r.unsupported) lines.push(`  note: ${u}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
