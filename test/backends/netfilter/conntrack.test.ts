import { describe, expect, it } from 'vitest';
import { filterArgs, parseConntrack, staleFlowFilters } from '../../../src/backends/netfilter/conntrack.js';
import { endpoint, entry, table } from '../iptables/fixtures.js';

const LIST = `udp      17 27 src=198.18.1.100 dst=198.19.0.10 sport=40000 dport=53 src=198.18.1.2 dst=198.18.1.100 sport=5353 dport=40000 mark=0 use=1
udp      17 25 src=198.18.1.100 dst=198.19.0.10 sport=40001 dport=53 [UNREPLIED] src=198.18.1.9 dst=198.18.1.100 sport=5353 dport=40001 mark=0 use=1
udp      17 29 src=198.18.1.100 dst=198.19.0.10 sport=40002 dport=53 [UNREPLIED] src=198.19.0.10 dst=198.18.1.100 sport=53 dport=40002 mark=0 use=1
udp      17 29 src=198.19.200.100 dst=198.19.200.1 sport=40003 dport=30053 src=198.18.1.9 dst=198.19.200.1 sport=5353 dport=40003 mark=0 use=1
udp      17 29 src=198.18.1.100 dst=198.19.0.99 sport=40004 dport=53 src=198.18.1.7 dst=198.18.1.100 sport=53 dport=40004 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 5 flow entries have been shown.`;

describe('UDP conntrack cleanup', () => {
  const dns = entry('kube-system', 'dns', 'dns', '198.19.0.10', 53, [endpoint('198.18.1.2', 5353)], { protocol: 'UDP', nodePort: 30053 });

  it('parses original destination and reply source', () => {
    expect(parseConntrack(LIST)[1]).toEqual({ origDst: '198.19.0.10', origDport: 53, replySrc: '198.18.1.9' });
    expect(parseConntrack(LIST)).toHaveLength(5);
  });

  it('deletes flows to a service whose reply source is not a serving endpoint (gone, or created with no endpoints)', () => {
    expect(staleFlowFilters(parseConntrack(LIST), table(dns), [], 4)).toEqual([
      { origDst: '198.19.0.10', origDport: 53, replySrc: '198.18.1.9' },
      { origDst: '198.19.0.10', origDport: 53, replySrc: '198.19.0.10' },
      { origDport: 30053, replySrc: '198.18.1.9' },
    ]);
  });

  it('flows of a removed UDP service are deleted; TCP services and other destinations are left alone', () => {
    const gone = entry('ns', 'gone', '', '198.19.0.99', 53, [], { protocol: 'UDP' });
    expect(staleFlowFilters(parseConntrack(LIST), table(), [gone], 4)).toEqual([{ origDst: '198.19.0.99', origDport: 53, replySrc: '198.18.1.7' }]);
    expect(staleFlowFilters(parseConntrack(LIST), table({ ...dns, protocol: 'TCP' }), [], 4)).toEqual([]);
  });

  it('builds conntrack -D arguments', () => {
    expect(filterArgs(4, { origDst: '198.19.0.10', origDport: 53, replySrc: '198.18.1.9' })).toEqual(
      ['-D', '-f', 'ipv4', '-p', 'udp', '--orig-dst', '198.19.0.10', '--orig-port-dst', '53', '--reply-src', '198.18.1.9'],
    );
  });
});
