// --dns-upstream's reading of resolv.conf: nameserver lines only, glibc's syntax plus IP:PORT.
import { describe, expect, it } from 'vitest';
import { parseResolvConf } from '../../src/dns/resolv-conf.js';

describe('parseResolvConf', () => {
  it('takes the nameserver lines in order, port 53 unless IP:PORT or [IPv6]:PORT says otherwise', () => {
    const text = '# comment\nsearch default.svc.cluster.local\nnameserver 198.18.0.10\noptions ndots:5\nnameserver 2001:db8::53 ; trailing\nnameserver 127.0.0.1:2053\nnameserver [2001:db8::1]:5353\n';
    expect(parseResolvConf(text)).toEqual([
      { host: '198.18.0.10', port: 53 },
      { host: '2001:db8::53', port: 53 },
      { host: '127.0.0.1', port: 2053 },
      { host: '2001:db8::1', port: 5353 },
    ]);
  });

  it('names the file and line of a bad address, and a file without nameservers', () => {
    expect(() => parseResolvConf('nameserver\n', 'r.conf')).toThrow('r.conf:1: nameserver without an address');
    expect(() => parseResolvConf('\nnameserver dns.example.test\n', 'r.conf')).toThrow('r.conf:2: nameserver "dns.example.test" is not an IP address');
    expect(() => parseResolvConf('nameserver 127.0.0.1:70000\n', 'r.conf')).toThrow('r.conf:1: nameserver port 70000 is out of range');
    expect(() => parseResolvConf('search example.test\n', 'r.conf')).toThrow('r.conf: no nameserver line');
  });
});
