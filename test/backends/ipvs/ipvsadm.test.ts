// ipvsadm's listing parsed, command lines rendered, and the per-virtual-server diff
// (including graceful termination).
import { describe, expect, it } from 'vitest';
import { addServiceLine, parseIpvsList, realServerLine } from '../../../src/backends/ipvs/ipvsadm.js';
import { diffVirtualServer } from '../../../src/backends/ipvs/ipvs-diff.js';
import { vs } from './fixtures.js';

// Verbatim `ipvsadm -Ln --exact` from the Debian 6.1 guest.
const LISTING = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.19.1.175:80 rr persistent 180
  -> 198.18.1.2:9376              Masq    1      0          0         
  -> 198.18.1.3:9376              Masq    0      2          5         
UDP  198.19.1.175:53 rr
TCP  [2001:db8:19::b]:80 rr
  -> [2001:db8:18:1::2]:9376      Masq    1      0          0         
FWM  7 rr
  -> 198.18.1.9:80                Masq    1      0          0         
`;

describe('parseIpvsList', () => {
  it('reads virtual servers, persistence, real servers with weights and connection counts', () => {
    const m = parseIpvsList(LISTING);
    expect([...m.keys()]).toEqual(['TCP/198.19.1.175:80', 'UDP/198.19.1.175:53', 'TCP/[2001:db8:19::b]:80']);
    expect(m.get('TCP/198.19.1.175:80')).toEqual({
      protocol: 'TCP',
      ip: '198.19.1.175',
      port: 80,
      scheduler: 'rr',
      persistence: 180,
      realServers: [
        { ip: '198.18.1.2', port: 9376, weight: 1, activeConn: 0, inactConn: 0 },
        { ip: '198.18.1.3', port: 9376, weight: 0, activeConn: 2, inactConn: 5 },
      ],
    });
    expect(m.get('UDP/198.19.1.175:53')?.realServers).toEqual([]);
    expect(m.get('UDP/198.19.1.175:53')?.persistence).toBeUndefined();
    expect(m.get('TCP/[2001:db8:19::b]:80')?.realServers[0]?.ip).toBe('2001:db8:18:1::2');
  });

  it('an empty table parses to nothing', () => {
    expect(parseIpvsList('IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n').size).toBe(0);
  });
});

describe('command lines', () => {
  it('renders services and masqueraded real servers as ipvsadm -R takes them', () => {
    const v = vs('2001:db8:19::b', 80, [], { protocol: 'UDP', persistence: 10800, scheduler: 'sh' });
    expect(addServiceLine(v)).toBe('-A -u [2001:db8:19::b]:80 -s sh -p 10800');
    expect(addServiceLine({ ...v, protocol: 'SCTP', persistence: undefined }, true)).toBe('-E --sctp-service [2001:db8:19::b]:80 -s sh');
    expect(realServerLine(v, { ip: '2001:db8:18:1::2', port: 9376, weight: 1 })).toBe('-a -u [2001:db8:19::b]:80 -r [2001:db8:18:1::2]:9376 -m -w 1');
  });
});

describe('diffVirtualServer', () => {
  const want = vs('198.19.1.175', 80, [['198.18.1.2', 9376], ['198.18.1.3', 9376]]);

  it('creates a missing virtual server with its real servers', () => {
    expect(diffVirtualServer(want, undefined)).toEqual([
      '-A -t 198.19.1.175:80 -s rr',
      '-a -t 198.19.1.175:80 -r 198.18.1.2:9376 -m -w 1',
      '-a -t 198.19.1.175:80 -r 198.18.1.3:9376 -m -w 1',
    ]);
  });

  it('no change → no lines (never flush and rebuild)', () => {
    expect(diffVirtualServer(want, vs('198.19.1.175', 80, [['198.18.1.3', 9376, 1, 4, 9], ['198.18.1.2', 9376]]))).toEqual([]);
  });

  it('only the differences: an added real server, an edited scheduler/persistence', () => {
    const cur = vs('198.19.1.175', 80, [['198.18.1.2', 9376]], { scheduler: 'lc' });
    expect(diffVirtualServer({ ...want, persistence: 30 }, cur)).toEqual(['-E -t 198.19.1.175:80 -s rr -p 30', '-a -t 198.19.1.175:80 -r 198.18.1.3:9376 -m -w 1']);
    // Switching affinity off: -E without -p.
    expect(diffVirtualServer(want, { ...vs('198.19.1.175', 80, [['198.18.1.2', 9376], ['198.18.1.3', 9376]]), persistence: 30 })).toEqual(['-E -t 198.19.1.175:80 -s rr']);
  });

  it('graceful termination: a removed TCP real server with connections drains at weight 0, is deleted once idle', () => {
    const draining = vs('198.19.1.175', 80, [['198.18.1.2', 9376], ['198.18.1.3', 9376], ['198.18.1.4', 9376, 1, 1, 0]]);
    expect(diffVirtualServer(want, draining)).toEqual(['-e -t 198.19.1.175:80 -r 198.18.1.4:9376 -m -w 0']);
    // Later syncs: still connections (TIME_WAIT counts as InActConn) → nothing; none left → deleted.
    expect(diffVirtualServer(want, vs('198.19.1.175', 80, [['198.18.1.2', 9376], ['198.18.1.3', 9376], ['198.18.1.4', 9376, 0, 0, 3]]))).toEqual([]);
    expect(diffVirtualServer(want, vs('198.19.1.175', 80, [['198.18.1.2', 9376], ['198.18.1.3', 9376], ['198.18.1.4', 9376, 0, 0, 0]]))).toEqual(['-d -t 198.19.1.175:80 -r 198.18.1.4:9376']);
    // Idle from the start → deleted at once.
    expect(diffVirtualServer(want, vs('198.19.1.175', 80, [['198.18.1.2', 9376], ['198.18.1.3', 9376], ['198.18.1.4', 9376]]))).toEqual(['-d -t 198.19.1.175:80 -r 198.18.1.4:9376']);
  });

  it('a draining real server that comes back gets weight 1 again', () => {
    expect(diffVirtualServer(want, vs('198.19.1.175', 80, [['198.18.1.2', 9376], ['198.18.1.3', 9376, 0, 1, 0]]))).toEqual(['-e -t 198.19.1.175:80 -r 198.18.1.3:9376 -m -w 1']);
  });

  it('UDP real servers are deleted at once, connections or not', () => {
    const u = (rs: Parameters<typeof vs>[2]) => vs('198.19.1.179', 53, rs, { protocol: 'UDP' });
    expect(diffVirtualServer(u([['198.18.1.2', 9376]]), u([['198.18.1.2', 9376], ['198.18.1.3', 9376, 1, 0, 7]]))).toEqual(['-d -u 198.19.1.179:53 -r 198.18.1.3:9376']);
  });

  it('rollback (graceful off) restores exactly, and a virtual server no longer wanted is deleted', () => {
    expect(diffVirtualServer(want, vs('198.19.1.175', 80, [['198.18.1.2', 9376], ['198.18.1.3', 9376], ['198.18.1.4', 9376, 1, 1, 0]]), { graceful: false })).toEqual([
      '-d -t 198.19.1.175:80 -r 198.18.1.4:9376',
    ]);
    expect(diffVirtualServer(undefined, want)).toEqual(['-D -t 198.19.1.175:80']);
  });
});
