// Prefix arithmetic, each expectation worked out by hand.
import { describe, expect, it } from 'vitest';
import { canonicalCIDR, cidrContains } from '../../src/util/cidr.js';

describe('cidr', () => {
  it('canonicalCIDR clears the host bits and compresses IPv6, as the kernel tools print a network', () => {
    expect(canonicalCIDR('198.19.200.5/24')).toBe('198.19.200.0/24');
    expect(canonicalCIDR('198.19.201.255/23')).toBe('198.19.200.0/23');
    expect(canonicalCIDR('198.19.200.100/32')).toBe('198.19.200.100/32');
    expect(canonicalCIDR('198.19.200.100/0')).toBe('0.0.0.0/0');
    expect(canonicalCIDR('2001:db8:19::5/64')).toBe('2001:db8:19::/64');
    expect(canonicalCIDR('2001:db8:abcd:12:ffff::/48')).toBe('2001:db8:abcd::/48');
    expect(canonicalCIDR('2001:db8:0:0:1::1/128')).toBe('2001:db8::1:0:0:1/128');
  });

  it('cidrContains: same family only; a bare address is a host route', () => {
    expect(cidrContains('198.19.200.0/24', '198.19.200.1')).toBe(true);
    expect(cidrContains('198.19.200.0/24', '198.19.201.1')).toBe(false);
    expect(cidrContains('198.19.200.1', '198.19.200.1')).toBe(true);
    expect(cidrContains('2001:db8::/32', '198.19.200.1')).toBe(false);
  });
});
