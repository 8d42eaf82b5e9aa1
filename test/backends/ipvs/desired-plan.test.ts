// ServiceTable → desired virtual servers / addresses / set members, and the sync plan
// against a kernel state: only differences, stale removal, per-service faults.
import { describe, expect, it } from 'vitest';
import { desiredState } from '../../../src/backends/ipvs/desired.js';
import { planSync } from '../../../src/backends/ipvs/plan.js';
import { nodeViewOf } from '../../../src/model/frontends.js';
import { endpoint, emptyState, entry, seed, table, vs } from './fixtures.js';

const OPTS = { scheduler: 'rr', view: nodeViewOf(table()) };

describe('desiredState', () => {
  it('the seed: one rr virtual server on the VIP, three masqueraded pods, VIP bound, sets filled', () => {
    const [d] = desiredState(table(seed()), OPTS);
    expect(d!.label).toBe('default/hostnames/TCP');
    expect(d!.bound).toEqual(['198.19.1.175']);
    expect(d!.virtualServers).toHaveLength(1);
    expect(d!.virtualServers[0]).toMatchObject({ kind: 'ClusterIP', protocol: 'TCP', ip: '198.19.1.175', port: 80, scheduler: 'rr' });
    expect(d!.virtualServers[0]!.realServers.map((r) => `${r.ip}:${r.port}/${r.weight}`)).toEqual(['198.18.1.2:9376/1', '198.18.1.3:9376/1', '198.18.1.4:9376/1']);
    expect(d!.sets.map((e) => `${e.set} ${e.member}`).sort()).toEqual([
      'KUBE-CLUSTER-IP 198.19.1.175,tcp:80',
      'KUBE-IPVS-IPS 198.19.1.175',
      'KUBE-LOOP-BACK 198.18.1.2,tcp:9376,198.18.1.2',
      'KUBE-LOOP-BACK 198.18.1.3,tcp:9376,198.18.1.3',
      'KUBE-LOOP-BACK 198.18.1.4,tcp:9376,198.18.1.4',
    ]);
  });

  it('only ready endpoints; ClientIP affinity becomes persistence; no endpoints → a virtual server without real servers (IPVS refuses)', () => {
    const eps = [endpoint('198.18.1.2', 9376), endpoint('198.18.1.5', 9376, { ready: false, serving: false }), endpoint('198.18.2.2', 9376, { nodeName: 'node-b' })];
    const [a] = desiredState(table(entry('default', 'a', '', '198.19.1.176', 80, eps, { sessionAffinity: { type: 'ClientIP', timeoutSeconds: 300 } })), OPTS);
    expect(a!.virtualServers[0]!.persistence).toBe(300);
    expect(a!.virtualServers[0]!.realServers.map((r) => r.ip)).toEqual(['198.18.1.2', '198.18.2.2']);
    // Hairpin masquerade: every endpoint on this node, ready or not (kube-proxy's KUBE-LOOP-BACK), none elsewhere.
    expect(a!.sets.filter((e) => e.set === 'KUBE-LOOP-BACK').map((e) => e.member)).toEqual(['198.18.1.2,tcp:9376,198.18.1.2', '198.18.1.5,tcp:9376,198.18.1.5']);
    const [b] = desiredState(table(entry('default', 'b', '', '198.19.1.178', 80, [])), OPTS);
    expect(b!.virtualServers[0]!.realServers).toEqual([]);
    expect(b!.sets.map((e) => e.set).sort()).toEqual(['KUBE-CLUSTER-IP', 'KUBE-IPVS-IPS']);
  });

  it('a Local policy with no endpoint on this node falls back to the Cluster endpoints, where kube-proxy has them (kubernetes#97081)', () => {
    const remote = [endpoint('198.18.2.6', 9376, { nodeName: 'node-b' })];
    const np = entry('default', 'np', '', '198.19.1.183', 80, remote, { nodePort: 30203, externalTrafficPolicy: 'Local', externalIPs: ['198.19.250.11'] });
    const itp = entry('default', 'itp', '', '198.19.1.184', 80, remote, { internalTrafficPolicy: 'Local' });
    const out = desiredState(table(np, itp), OPTS);
    const [a, b] = [out.find((d) => d.key === np.key), out.find((d) => d.key === itp.key)];
    const servers = (d: typeof a) => d!.virtualServers.map((v) => `${v.kind} ${v.realServers.map((r) => r.ip).join(',')}`);
    expect(new Set(servers(a))).toEqual(new Set(['ClusterIP 198.18.2.6', 'NodePort 198.18.2.6', 'ExternalIP 198.18.2.6']));
    // ClusterIP-only with internalTrafficPolicy Local: kube-proxy computes no Cluster endpoints.
    expect(servers(b)).toEqual(['ClusterIP ']);
  });

  it('health-check node ports in KUBE-HEALTH-CHECK-NODE-PORT; SCTP node ports per node address (kube-proxy\'s -HASH sets)', () => {
    const hc = entry('default', 'lb', '', '198.19.1.181', 80, [endpoint('198.18.1.2', 9376)], { nodePort: 30200, healthCheckNodePort: 30201, externalTrafficPolicy: 'Local' });
    const sctp = entry('default', 'sc', '', '198.19.1.182', 80, [endpoint('198.18.1.2', 9376)], { protocol: 'SCTP', nodePort: 30202 });
    const out = desiredState(table(hc, sctp), OPTS);
    const [a, b] = [out.find((d) => d.key === hc.key), out.find((d) => d.key === sctp.key)];
    expect(a!.sets).toContainEqual({ set: 'KUBE-HEALTH-CHECK-NODE-PORT', member: '30201', comment: 'default/lb/TCP' });
    const np = b!.sets.filter((e) => e.set.startsWith('KUBE-NODE-PORT')).map((e) => `${e.set} ${e.member}`);
    expect(np).toEqual(OPTS.view.nodePortAddresses.filter((ip) => !ip.includes(':')).map((ip) => `KUBE-NODE-PORT-SCTP-HASH ${ip},sctp:30202`));
    expect(np.length).toBeGreaterThan(0);
  });

  it('NodePort on every node address of the family, externalIPs and LB IPs bound, Local policies in their sets', () => {
    const svc = entry('ns', 'web', 'http', '198.19.1.180', 80, [endpoint('198.18.1.2', 9376), endpoint('198.18.2.2', 9376, { nodeName: 'node-b' })], {
      nodePort: 30080,
      externalIPs: ['198.19.250.10', '198.19.200.1'],
      loadBalancerIPs: ['198.19.250.20'],
      externalTrafficPolicy: 'Local',
    });
    const [d] = desiredState(table(svc), OPTS);
    const byKind = (k: string) => d!.virtualServers.filter((v) => v.kind === k).map((v) => `${v.ip}:${v.port} → ${v.realServers.map((r) => r.ip).join(',')}`);
    expect(byKind('ClusterIP')).toEqual(['198.19.1.180:80 → 198.18.1.2,198.18.2.2']);
    // Local: external frontends only reach this node's endpoint; only IPv4 node addresses (v4-only service).
    expect(byKind('NodePort')).toEqual(['198.19.200.1:30080 → 198.18.1.2']);
    expect(byKind('ExternalIP')).toEqual(['198.19.250.10:80 → 198.18.1.2', '198.19.200.1:80 → 198.18.1.2']);
    expect(byKind('LoadBalancer')).toEqual(['198.19.250.20:80 → 198.18.1.2']);
    // An externalIP that is a node address is local already: not bound to kube-ipvs0.
    expect(d!.bound).toEqual(['198.19.1.180', '198.19.250.10', '198.19.250.20']);
    const members = d!.sets.map((e) => `${e.set} ${e.member}`);
    expect(members).toEqual(
      expect.arrayContaining([
        'KUBE-NODE-PORT-TCP 30080',
        'KUBE-NODE-PORT-LOCAL-TCP 30080',
        'KUBE-EXTERNAL-IP-LOCAL 198.19.250.10,tcp:80',
        'KUBE-LOAD-BALANCER 198.19.250.20,tcp:80',
        'KUBE-LOAD-BALANCER-LOCAL 198.19.250.20,tcp:80',
      ]),
    );
    expect(members).not.toContain('KUBE-IPVS-IPS 198.19.200.1');
  });

  it('loadBalancerSourceRanges: the LB IP:port in LOAD-BALANCER-FW, each range (as ipset prints it back) in SOURCE-CIDR, the LB IP itself in SOURCE-IP when a range holds the node', () => {
    const svc = entry('ns', 'lb', '', '198.19.1.181', 80, [endpoint('198.18.1.2', 9376)], {
      nodePort: 30081,
      loadBalancerIPs: ['198.19.250.20'],
      loadBalancerSourceRanges: ['198.19.200.0/24', '198.19.99.5/32', '198.19.98.7/24'],
    });
    const members = desiredState(table(svc), OPTS)[0]!.sets.map((e) => `${e.set} ${e.member}`);
    expect(members.filter((m) => /FW|SOURCE/.test(m))).toEqual([
      'KUBE-LOAD-BALANCER-FW 198.19.250.20,tcp:80',
      'KUBE-LOAD-BALANCER-SOURCE-CIDR 198.19.250.20,tcp:80,198.19.200.0/24',
      'KUBE-LOAD-BALANCER-SOURCE-CIDR 198.19.250.20,tcp:80,198.19.99.5',
      'KUBE-LOAD-BALANCER-SOURCE-CIDR 198.19.250.20,tcp:80,198.19.98.0/24',
      'KUBE-LOAD-BALANCER-SOURCE-IP 198.19.250.20,tcp:80,198.19.250.20', // 198.19.200.1, the node, is inside the first range
    ]);
    const far = desiredState(table({ ...svc, loadBalancerSourceRanges: ['198.19.99.0/24'] }), OPTS)[0]!.sets.map((e) => e.set);
    expect(far).not.toContain('KUBE-LOAD-BALANCER-SOURCE-IP');
  });

  it('IPv6: KUBE-6- sets, compressed addresses, only endpoints of the family', () => {
    const svc = entry('default', 'six', '', '2001:db8:19:0::b', 80, [endpoint('2001:db8:18:1:0::2', 9376), endpoint('198.18.1.2', 9376)], { nodePort: 30081 });
    const [d] = desiredState(table(svc), OPTS);
    expect(d!.virtualServers.map((v) => `${v.kind} ${v.ip} ${v.realServers.map((r) => r.ip)}`)).toEqual([
      'ClusterIP 2001:db8:19::b 2001:db8:18:1::2',
      'NodePort 2001:db8:19:200::1 2001:db8:18:1::2',
    ]);
    expect(d!.sets.map((e) => e.set)).toEqual(expect.arrayContaining(['KUBE-6-CLUSTER-IP', 'KUBE-6-NODE-PORT-TCP', 'KUBE-6-LOOP-BACK', 'KUBE-6-IPVS-IPS']));
  });
});

describe('planSync', () => {
  const desired = (...e: Parameters<typeof table>) => desiredState(table(...e), OPTS);

  it('empty kernel: bind the VIP, create the virtual server, add every member', () => {
    const p = planSync({ desired: desired(seed()), current: emptyState(), lastApplied: new Map() });
    expect(p.failed).toEqual([]);
    expect(p.steps).toHaveLength(1);
    expect(p.steps[0]!.addAddresses).toEqual(['198.19.1.175']);
    expect(p.steps[0]!.ipvs[0]).toBe('-A -t 198.19.1.175:80 -s rr');
    expect(p.addEntries).toHaveLength(5);
    expect(p.deleteVirtualServers.concat(p.deleteAddresses)).toEqual([]);
  });

  it('kernel already matching: nothing to do (restart adopts the state)', () => {
    const d = desired(seed());
    const cur = emptyState();
    cur.virtualServers.set('TCP/198.19.1.175:80', vs('198.19.1.175', 80, [['198.18.1.4', 9376], ['198.18.1.2', 9376, 1, 3, 1], ['198.18.1.3', 9376]]));
    cur.bound.add('198.19.1.175');
    for (const e of d[0]!.sets) {
      if (!cur.sets.has(e.set)) cur.sets.set(e.set, new Map());
      cur.sets.get(e.set)!.set(e.member, e.comment);
    }
    const p = planSync({ desired: d, current: cur, lastApplied: new Map() });
    expect(p).toEqual({ steps: [], failed: [], deleteVirtualServers: [], deleteAddresses: [], addEntries: [], deleteEntries: [] });
  });

  it('a removed service: its virtual server, address and members go; foreign virtual servers stay', () => {
    const cur = emptyState();
    cur.virtualServers.set('TCP/198.19.1.175:80', vs('198.19.1.175', 80, [['198.18.1.2', 9376]]));
    cur.virtualServers.set('TCP/198.19.9.9:80', vs('198.19.9.9', 80, [])); // someone else's, not on kube-ipvs0
    cur.virtualServers.set('TCP/198.19.200.1:30080', vs('198.19.200.1', 30080, [])); // our old NodePort
    cur.bound.add('198.19.1.175');
    cur.sets.set('KUBE-CLUSTER-IP', new Map([['198.19.1.175,tcp:80', 'default/hostnames/TCP']]));
    cur.sets.set('KUBE-NODE-PORT-TCP', new Map([['30080', 'default/np/TCP']]));
    const p = planSync({ desired: [], current: cur, lastApplied: new Map() });
    expect(p.deleteVirtualServers).toEqual(['-D -t 198.19.1.175:80', '-D -t 198.19.200.1:30080']);
    expect(p.deleteAddresses).toEqual(['198.19.1.175']);
    expect(p.deleteEntries.map((e) => e.member).sort()).toEqual(['198.19.1.175,tcp:80', '30080']);
  });

  it('two ports on one VIP bind it once and keep it while either remains', () => {
    const a = entry('default', 'multi', 'http', '198.19.1.185', 80, [endpoint('198.18.1.2', 9376)]);
    const b = entry('default', 'multi', 'alt', '198.19.1.185', 8080, [endpoint('198.18.1.2', 9376)]);
    const p = planSync({ desired: desired(a, b), current: emptyState(), lastApplied: new Map() });
    expect(p.steps.map((s) => s.addAddresses)).toEqual([['198.19.1.185'], []]);
  });

  it('missing scheduler module: services needing it fail by name and are left alone; unchanged ones are fine', () => {
    const cur = emptyState();
    cur.virtualServers.set('TCP/198.19.1.175:80', vs('198.19.1.175', 80, [['198.18.1.2', 9376]]));
    cur.bound.add('198.19.1.175');
    const other = entry('default', 'new', '', '198.19.1.177', 80, [endpoint('198.18.1.2', 9376)]);
    const p = planSync({ desired: desired(seed(), other), current: cur, lastApplied: new Map(), schedulerError: 'IPVS scheduler nq is unavailable (modprobe ip_vs_nq failed)' });
    // seed only needs real servers added (-a), which works with the loaded scheduler.
    expect(p.failed.map((f) => f.error)).toEqual(['service default/new/TCP: IPVS scheduler nq is unavailable (modprobe ip_vs_nq failed)']);
    expect(p.steps.map((s) => s.service.key)).toEqual([seed().key]);
    expect(p.addEntries.some((e) => e.member.startsWith('198.19.1.177'))).toBe(false);
  });

  it('a ClusterIP that is another interface address: error naming the service; its old state is kept', () => {
    const conflicted = entry('default', 'clash', '', '198.19.200.1', 80, [endpoint('198.18.1.2', 9376)]);
    const cur = emptyState();
    // What it had before (from this process' last sync) stays untouched.
    const before = desiredState(table(entry('default', 'clash', '', '198.19.1.190', 80, [endpoint('198.18.1.2', 9376)])), OPTS)[0]!;
    cur.virtualServers.set('TCP/198.19.1.190:80', vs('198.19.1.190', 80, [['198.18.1.2', 9376]]));
    cur.bound.add('198.19.1.190');
    cur.sets.set('KUBE-CLUSTER-IP', new Map([['198.19.1.190,tcp:80', 'default/clash/TCP']]));
    const p = planSync({ desired: desired(conflicted, seed()), current: cur, lastApplied: new Map([[before.key, before]]) });
    expect(p.failed).toEqual([{ key: conflicted.key, label: 'default/clash/TCP', error: 'service default/clash/TCP: ClusterIP 198.19.200.1 is already an address of interface eth0; refusing to bind it to kube-ipvs0' }]);
    expect(p.steps.map((s) => s.service.label)).toEqual(['default/hostnames/TCP']);
    expect(p.deleteVirtualServers).toEqual([]);
    expect(p.deleteAddresses).toEqual([]);
    expect(p.deleteEntries).toEqual([]);
  });

  it('a frontend claimed twice: the first service (by key) wins, the second fails naming both', () => {
    const a = entry('a', 'first', '', '198.19.1.200', 80, [endpoint('198.18.1.2', 9376)], { externalIPs: ['198.19.250.5'] });
    const b = entry('b', 'second', '', '198.19.1.201', 80, [endpoint('198.18.1.3', 9376)], { externalIPs: ['198.19.250.5'] });
    const p = planSync({ desired: desired(a, b), current: emptyState(), lastApplied: new Map() });
    expect(p.failed.map((f) => f.error)).toEqual(['service b/second/TCP: frontend TCP/198.19.250.5:80 is already used by service a/first/TCP']);
  });
});

describe('IpvsBackend.render', () => {
  it('prints the tool runs of a first sync on an empty node, each command line with its stdin, without a kernel', async () => {
    const { IpvsBackend } = await import('../../../src/backends/ipvs/index.js');
    const text = new IpvsBackend({ scheduler: 'wlc', clusterCIDRs: ['198.18.0.0/16'] }).render(table(seed()));
    expect(text).toMatch(/^# ip -batch -\nlink add kube-ipvs0 type dummy\nlink set kube-ipvs0 addrgenmode none\nlink set kube-ipvs0 up\n\n# ipset restore -exist\ncreate KUBE-CLUSTER-IP hash:ip,port /);
    expect(text).toContain('\n# ip -force -batch -\naddr add 198.19.1.175/32 dev kube-ipvs0\n');
    expect(text).toContain('\n# ipvsadm -R\n-A -t 198.19.1.175:80 -s wlc\n-a -t 198.19.1.175:80 -r 198.18.1.2:9376 -m -w 1\n');
    expect(text).toContain('add KUBE-CLUSTER-IP 198.19.1.175,tcp:80 comment "default/hostnames/TCP"');
    // The jumps from the built-in chains are missing on an empty node: the restore inserts them.
    expect(text).toMatch(/\n# iptables-restore -w 5 --noflush\n\*filter\n[\s\S]*-I INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER\n-I FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD\n-I INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT\n-I INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL\n-I FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL\nCOMMIT\n/);
    expect(text).not.toContain('ip6tables-restore'); // no IPv6 frontend: no IPv6 rules, as sync
    expect(() => new IpvsBackend({ scheduler: 'bogus' })).toThrow(/--ipvs-scheduler: want one of rr, wrr/);
  });

  it('NodePorts on the Node object\'s addresses inside --nodeport-addresses, not the host\'s', async () => {
    const { IpvsBackend } = await import('../../../src/backends/ipvs/index.js');
    const t = table(seed({ nodePort: 30080 }));
    expect(new IpvsBackend().render(t)).toContain('-A -t 198.19.200.1:30080 -s rr\n');
    const narrowed = new IpvsBackend({ nodePortAddresses: ['198.18.0.0/16'] }).render(t);
    expect(narrowed).not.toContain(':30080 -s rr');
    expect(narrowed).toContain('add KUBE-NODE-PORT-TCP 30080'); // the port stays a node port
  });
});
