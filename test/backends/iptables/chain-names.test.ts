import { describe, expect, it } from 'vitest';
import { base32, endpointChain, servicePortChain } from '../../../src/backends/iptables/chain-names.js';

describe('kube-proxy chain names', () => {
  const spn = { namespace: 'ns1', name: 'svc1', port: 'p80', protocol: 'TCP' as const };
  it('matches kube-proxy for the service chain', () => {
    expect(servicePortChain('KUBE-SVC-', spn)).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
  });
  it('matches kube-proxy for the endpoint chain', () => {
    expect(endpointChain(spn, '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
  });
  it('encodes base32 as RFC 4648 with padding', () => {
    expect(base32(Buffer.from('foobar'))).toBe('MZXW6YTBOI======');
  });
});
