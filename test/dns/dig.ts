// `dig` (Debian's bind9-dnsutils) as the tests' DNS client, run inside a test namespace,
// and its answer read back as sets of records that compare across servers.
import { nsRun } from '../harness/netns.js';

export interface DigAnswer {
  rcode: string;
  flags: string[];
  answers: string[];
  authorities: string[];
  additionals: string[];
  raw: string;
}

/** `owner TYPE rdata` in lower case (TYPE upper), no TTL, no class; SOA serial masked. */
function normalize(line: string): string {
  const f = line.trim().split(/\s+/);
  const [owner, , type, ...rdata] = f[1] === 'IN' ? f : [f[0], ...f.slice(1)]; // +nottlid: owner IN TYPE rdata
  const data = type === 'SOA' ? [...rdata.slice(0, 2), 'SERIAL', ...rdata.slice(3)] : rdata;
  return `${owner!.toLowerCase()} ${type} ${data.join(' ').toLowerCase()}`;
}

export async function dig(ns: string, server: string, port: number, name: string, type: string, extra: string[] = []): Promise<DigAnswer> {
  const r = await nsRun(
    ns,
    'dig',
    [`@${server}`, '-p', String(port), name, type, '+noall', '+comments', '+answer', '+authority', '+additional', '+nottlid', '+tries=1', '+time=3', ...extra],
    { allowFailure: true },
  );
  const out: DigAnswer = { rcode: '', flags: [], answers: [], authorities: [], additionals: [], raw: r.stdout + r.stderr };
  let section: 'answers' | 'authorities' | 'additionals' | undefined;
  for (const line of r.stdout.split('\n')) {
    const status = /status: (\w+)/.exec(line);
    if (status) out.rcode = status[1]!;
    const flags = /^;; flags: ([^;]*);/.exec(line);
    if (flags) out.flags = flags[1]!.trim().split(/\s+/);
    if (line.startsWith(';; ANSWER SECTION')) section = 'answers';
    else if (line.startsWith(';; AUTHORITY SECTION')) section = 'authorities';
    else if (line.startsWith(';; ADDITIONAL SECTION')) section = 'additionals';
    else if (line.trim() === '') section = undefined; // a blank line ends a section
    else if (section && !line.startsWith(';')) out[section].push(normalize(line));
  }
  if (out.rcode === '') throw new Error(`dig ${name} ${type} @${server}:${port} gave no answer:\n${out.raw}`);
  for (const k of ['answers', 'authorities', 'additionals'] as const) out[k].sort();
  return out;
}
