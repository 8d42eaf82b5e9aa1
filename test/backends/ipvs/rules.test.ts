// The fixed iptables rules and the ipset text formats.
import { describe, expect, it } from 'vitest';
import { createLine, parseIpsetSave, renderIpsetRestore } from '../../../src/backends/ipvs/ipsets.js';
import { renderChainRemoval } from '../../../src/backends/netfilter/chain-removal.js';
import { renderIptables } from '../../../src/backends/ipvs/iptables-rules.js';

describe('renderIptables', () => {
  it('IPv4 with --cluster-cidr: masquerade ClusterIP traffic from outside it, hairpin, health-check node ports accepted', () => {
    const t = renderIptables({ family: 4, clusterCIDR: '198.18.0.0/16' });
    expect(t).toContain('*filter\n:KUBE-IPVS-FILTER - [0:0]\n:KUBE-FORWARD - [0:0]\n');
    expect(t).toContain('! -s 198.18.0.0/16 -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ');
    expect(t).toContain('-m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE');
    expect(t).toContain('-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT');
    expect(t).toContain('-A KUBE-NODE-PORT -p sctp -m set --match-set KUBE-NODE-PORT-LOCAL-SCTP-HASH dst,dst -j RETURN');
    expect(t).toContain('-A KUBE-NODE-PORT -p tcp -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN');
    // The reject of non-service ports on VIPs comes after every accept.
    const filter = t.split('COMMIT')[0]!.split('\n').filter((l) => l.startsWith('-A KUBE-IPVS-FILTER'));
    expect(filter.at(-1)).toContain('KUBE-IPVS-IPS dst -j REJECT');
    expect(t.match(/^COMMIT$/gm)).toHaveLength(2);
  });

  it('IPv6 without a cluster CIDR of its family: KUBE-6- sets, no ClusterIP masquerade; --masquerade-all masquerades all', () => {
    const t = renderIptables({ family: 6 });
    expect(t).toContain('KUBE-6-CLUSTER-IP');
    expect(t).not.toMatch(/KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ/);
    expect(renderIptables({ family: 6, masqueradeAll: true })).toMatch(/-m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ/);
  });

  it('chain removal flushes then deletes only the chains present', () => {
    expect(renderChainRemoval({ filter: [], nat: ['KUBE-SERVICES'] })).toBe('*nat\n:KUBE-SERVICES - [0:0]\n-X KUBE-SERVICES\nCOMMIT\n');
    expect(renderChainRemoval({ filter: [], nat: [] })).toBe('');
  });
});

describe('ipsets', () => {
  it('create lines carry the type, family and the comment extension', () => {
    expect(createLine('KUBE-CLUSTER-IP')).toBe('create KUBE-CLUSTER-IP hash:ip,port family inet comment');
    expect(createLine('KUBE-6-LOOP-BACK')).toBe('create KUBE-6-LOOP-BACK hash:ip,port,ip family inet6 comment');
    expect(createLine('KUBE-NODE-PORT-UDP')).toBe('create KUBE-NODE-PORT-UDP bitmap:port range 0-65535 comment');
    expect(() => createLine('OTHER')).toThrow(/not an ipset of this backend/);
  });

  it('parses `ipset save` (ours only, with comments) and renders restore input', () => {
    const save = [
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 comment bucketsize 12 initval 0x56ceba8f',
      'add KUBE-CLUSTER-IP 198.19.1.175,tcp:80 comment "default/hostnames/TCP"',
      'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535 comment',
      'add KUBE-NODE-PORT-TCP 30080 comment "ns/web:http/TCP"',
      'create SOMEONE-ELSE hash:ip family inet',
      'add SOMEONE-ELSE 10.0.0.1',
      'create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535 comment',
    ].join('\n');
    const sets = parseIpsetSave(save);
    expect([...sets.keys()]).toEqual(['KUBE-CLUSTER-IP', 'KUBE-NODE-PORT-TCP', 'KUBE-HEALTH-CHECK-NODE-PORT']);
    expect(sets.get('KUBE-CLUSTER-IP')?.get('198.19.1.175,tcp:80')).toBe('default/hostnames/TCP');
    expect(sets.get('KUBE-NODE-PORT-TCP')?.get('30080')).toBe('ns/web:http/TCP');
    expect(sets.get('KUBE-HEALTH-CHECK-NODE-PORT')?.size).toBe(0);
    expect(renderIpsetRestore({ add: [{ set: 'KUBE-CLUSTER-IP', member: '198.19.1.176,udp:53', comment: 'a/b/UDP' }], del: [{ set: 'KUBE-NODE-PORT-TCP', member: '30080' }] })).toBe(
      'add KUBE-CLUSTER-IP 198.19.1.176,udp:53 comment "a/b/UDP"\ndel KUBE-NODE-PORT-TCP 30080\n',
    );
    expect(renderIpsetRestore({})).toBe('');
  });
});

describe('set names', () => {
  it('stay within ipset\'s 31 characters: a longer IPv6 name is cut, as kube-proxy cuts it', async () => {
    const { allSetNames, setName } = await import('../../../src/backends/ipvs/ipsets.js');
    expect(setName('LOAD-BALANCER-SOURCE-CIDR', 6)).toBe('KUBE-6-LOAD-BALANCER-SOURCE-CID');
    expect(allSetNames().filter((n) => n.length > 31)).toEqual([]);
    expect(new Set(allSetNames()).size).toBe(allSetNames().length);
  });
});

describe('withMissingJumps', () => {
  it('inserts only the jumps iptables-save does not show, inside the right table', async () => {
    const { withMissingJumps } = await import('../../../src/backends/ipvs/iptables-rules.js');
    const text = renderIptables({ family: 4 });
    const saved = {
      filter: [
        '-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT',
        '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
      ].join('\n'),
      nat: '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    };
    const out = withMissingJumps(text, saved);
    const inserted = out.split('\n').filter((l) => l.startsWith('-I '));
    expect(inserted).toEqual([
      '-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    ]);
    expect(out.indexOf('-I OUTPUT')).toBeGreaterThan(out.indexOf('*nat'));
    expect(withMissingJumps(text, { filter: saved.filter, nat: `${saved.nat}\n${inserted.map((l) => l.replace('-I', '-A')).join('\n')}` })).toBe(text);
  });
});

describe('ourRules', () => {
  it('picks our chains, rules and jumps out of a whole iptables-save, ignoring counters and others', async () => {
    const { ourRules } = await import('../../../src/backends/ipvs/iptables-rules.js');
    const save = [
      '*mangle', ':PREROUTING ACCEPT [0:0]', 'COMMIT',
      '*filter', ':INPUT ACCEPT [3:4]', ':KUBE-FORWARD - [0:0]', ':OTHER - [0:0]',
      '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER', '-A INPUT -j OTHER',
      '-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', 'COMMIT',
      '*nat', ':KUBE-MARK-MASQ - [0:0]', '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000', 'COMMIT', '',
    ].join('\n');
    expect(ourRules(save).split('\n')).toEqual([
      'filter :KUBE-FORWARD -',
      'filter -A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
      'filter -A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      'nat :KUBE-MARK-MASQ -',
      'nat -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
    ]);
  });
});
