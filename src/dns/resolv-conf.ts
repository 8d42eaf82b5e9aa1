// --dns-upstream FILE: the nameservers of a resolv.conf, for names outside the cluster zone.
// Only `nameserver` lines matter to a forwarder; search/options are the stub resolver's.
// As an extension (glibc has none), `nameserver IP:PORT` / `[IPv6]:PORT` name a port, so a
// test can point at a resolver that does not own port 53.
import { isIP } from 'node:net';

export interface Nameserver {
  host: string;
  port: number;
}

/** The nameservers of a resolv.conf text; a bad line throws naming its line number. */
export function parseResolvConf(text: string, file = 'resolv.conf'): Nameserver[] {
  const out: Nameserver[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, value] = line.split(/\s+/);
    if (key !== 'nameserver') return;
    const where = `${file}:${i + 1}`;
    if (!value) throw new Error(`${where}: nameserver without an address`);
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
    const host = m ? m[1]! : value.replace(/%.*$/, '');
    const port = m ? Number(m[2]) : 53;
    if (isIP(host) === 0) throw new Error(`${where}: nameserver ${JSON.stringify(value)} is not an IP address`);
    if (!(port >= 1 && port <= 65535)) throw new Error(`${where}: nameserver port ${m?.[2]} is out of range`);
    out.push({ host, port });
  });
  if (out.length === 0) throw new Error(`${file}: no nameserver line`);
  return out;
}
