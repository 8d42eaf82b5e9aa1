// Packet-flow tests in the style of kube-proxy's: render a table, add the jump rules,
// trace packets through the text, assert where they land.
import { describe, expect, it } from 'vitest';
import { jumpRulesText } from '../../../src/backends/iptables/jump-rules.js';
import { renderRuleset, type IptablesRenderOptions } from '../../../src/backends/iptables/render.js';
import { type TracePacket, parseRuleset, traceRuleset } from '../../../src/backends/iptables/trace.js';
import type { ServicePortEntry } from '../../../src/model/types.js';
import * as f from './feature-fixtures.js';
import { endpoint, entry, table } from './fixtures.js';

function ruleset(svcs: ServicePortEntry[], opts: Partial<IptablesRenderOptions> = {}): string {
  const r = renderRuleset(table(...svcs), { family: 4, clusterCIDR: f.CLUSTER_CIDR, ...opts });
  return r.filter + r.nat + jumpRulesText();
}

const LOCAL = [f.NODE_IP, '198.18.1.1'];
const pkt = (src: string, dst: string, dport: number, extra: Partial<TracePacket> = {}): TracePacket => ({
  src,
  dst,
  dport,
  proto: 'tcp',
  localAddresses: LOCAL,
  ...extra,
});
const eps = (r: ReturnType<typeof traceRuleset>) => r.endpoints.map((e) => [`${e.ip}:${e.port}`, Number(e.probability.toFixed(6)), e.masquerade]);

const seed = entry('default', 'hostnames', '', '198.19.1.175', 80, [
  endpoint('198.18.1.2', 9376),
  endpoint('198.18.1.3', 9376),
  endpoint('198.18.1.4', 9376),
  endpoint('198.18.1.5', 9376, { ready: false, serving: false }),
]);

describe('ruleset tracer (render → trace)', () => {
  it('ClusterIP from a pod: each ready endpoint 1/3, no masquerade', () => {
    const r = traceRuleset(ruleset([seed]), pkt(f.POD_CLIENT, '198.19.1.175', 80));
    expect(r.verdict).toBe('DNAT');
    expect(eps(r)).toEqual([
      ['198.18.1.2:9376', 0.333333, false],
      ['198.18.1.3:9376', 0.333333, false],
      ['198.18.1.4:9376', 0.333333, false],
    ]);
    expect(r.masquerade).toBe(false);
    expect(r.unsupported).toEqual([]);
  });

  it('ClusterIP from the node itself (outside the cluster CIDR): masqueraded', () => {
    const r = traceRuleset(ruleset([seed]), pkt(f.NODE_IP, '198.19.1.175', 80));
    expect(r.verdict).toBe('DNAT');
    expect(r.masquerade).toBe(true);
    expect(r.outcomes[0]!.path[0]).toBe('nat/OUTPUT');
  });

  it('--masquerade-all masquerades pod traffic too; without a cluster CIDR nothing is', () => {
    expect(traceRuleset(ruleset([seed], { masqueradeAll: true }), pkt(f.POD_CLIENT, '198.19.1.175', 80)).masquerade).toBe(true);
    expect(traceRuleset(ruleset([seed], { clusterCIDR: undefined }), pkt(f.NODE_IP, '198.19.1.175', 80)).masquerade).toBe(false);
  });

  it('hairpin: a pod reaching itself is masqueraded, only on that path', () => {
    const r = traceRuleset(ruleset([seed]), pkt('198.18.1.2', '198.19.1.175', 80));
    expect(eps(r)).toEqual([
      ['198.18.1.2:9376', 0.333333, true],
      ['198.18.1.3:9376', 0.333333, false],
      ['198.18.1.4:9376', 0.333333, false],
    ]);
  });

  it('wrong port or protocol is not proxied', () => {
    expect(traceRuleset(ruleset([seed]), pkt(f.POD_CLIENT, '198.19.1.175', 81)).verdict).toBe('ACCEPT');
    expect(traceRuleset(ruleset([seed]), pkt(f.POD_CLIENT, '198.19.1.175', 80, { proto: 'udp' })).verdict).toBe('ACCEPT');
  });

  it('no endpoints: REJECT for ClusterIP, external IP, LB IP and NodePort', () => {
    const rs = ruleset([f.noEndpoints]);
    expect(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.1.19', 80)).verdict).toBe('REJECT');
    expect(traceRuleset(rs, pkt(f.NODE_IP, '198.19.1.19', 80)).verdict).toBe('REJECT');
    expect(traceRuleset(rs, pkt(f.EXTERNAL_CLIENT, '198.19.250.12', 80)).verdict).toBe('REJECT');
    expect(traceRuleset(rs, pkt(f.EXTERNAL_CLIENT, '198.19.250.22', 80)).verdict).toBe('REJECT');
    expect(traceRuleset(rs, pkt(f.EXTERNAL_CLIENT, f.NODE_IP, 30085)).verdict).toBe('REJECT');
  });

  it('NodePort (Cluster policy) from outside: every endpoint, masqueraded', () => {
    const r = traceRuleset(ruleset([f.nodePort]), pkt(f.EXTERNAL_CLIENT, f.NODE_IP, 30080));
    expect(eps(r)).toEqual([
      ['198.18.1.2:9376', 0.5, true],
      ['198.18.2.2:9376', 0.5, true],
    ]);
  });

  it('NodePort only on local addresses, never on loopback, only on --nodeport-addresses when given', () => {
    expect(traceRuleset(ruleset([f.nodePort]), pkt(f.EXTERNAL_CLIENT, '198.19.200.7', 30080)).verdict).toBe('ACCEPT');
    expect(traceRuleset(ruleset([f.nodePort]), pkt('127.0.0.1', '127.0.0.1', 30080)).verdict).toBe('ACCEPT');
    const only = ruleset([f.nodePort], { nodePortIPs: [f.NODE_IP] });
    expect(traceRuleset(only, pkt(f.EXTERNAL_CLIENT, f.NODE_IP, 30080)).verdict).toBe('DNAT');
    expect(traceRuleset(only, pkt(f.POD_CLIENT, '198.18.1.1', 30080)).verdict).toBe('ACCEPT');
  });

  it('external IP and LB IP (Cluster policy): DNAT, masqueraded', () => {
    const r = traceRuleset(ruleset([f.externalIP, f.loadBalancer]), pkt(f.EXTERNAL_CLIENT, '198.19.250.10', 80));
    expect(r.endpoints.map((e) => e.masquerade)).toEqual([true, true]);
    const lb = traceRuleset(ruleset([f.externalIP, f.loadBalancer]), pkt(f.EXTERNAL_CLIENT, '198.19.250.20', 80));
    expect(eps(lb).map((e) => e[0])).toEqual(['198.18.1.2:9376', '198.18.2.2:9376']);
  });

  it('externalTrafficPolicy Local: outside clients get local endpoints with their source kept', () => {
    const rs = ruleset([f.etpLocal]);
    for (const [dst, port] of [['198.19.250.21', 80], [f.NODE_IP, 30082]] as const) {
      const r = traceRuleset(rs, pkt(f.EXTERNAL_CLIENT, dst, port));
      expect(eps(r)).toEqual([
        ['198.18.1.2:9376', 0.5, false],
        ['198.18.1.3:9376', 0.5, false],
      ]);
    }
  });

  it('externalTrafficPolicy Local: pods and the node short-circuit to every endpoint', () => {
    const rs = ruleset([f.etpLocal]);
    const fromPod = traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.250.21', 80));
    expect(eps(fromPod).map((e) => e[0])).toEqual(['198.18.1.2:9376', '198.18.1.3:9376', '198.18.2.2:9376']);
    expect(fromPod.masquerade).toBe(false);
    const fromNode = traceRuleset(rs, pkt(f.NODE_IP, '198.19.250.21', 80));
    expect(eps(fromNode).map((e) => e[0])).toEqual(['198.18.1.2:9376', '198.18.1.3:9376', '198.18.2.2:9376']);
    expect(fromNode.endpoints.every((e) => e.masquerade)).toBe(true);
  });

  it('externalTrafficPolicy Local without local endpoints: outside DROP, pods still served', () => {
    const rs = ruleset([f.etpLocalNone]);
    expect(traceRuleset(rs, pkt(f.EXTERNAL_CLIENT, f.NODE_IP, 30083)).verdict).toBe('DROP');
    expect(traceRuleset(rs, pkt(f.EXTERNAL_CLIENT, '198.19.250.11', 80)).verdict).toBe('DROP');
    expect(eps(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.250.11', 80)))).toEqual([['198.18.2.2:9376', 1, false]]);
    expect(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.1.14', 80)).verdict).toBe('DNAT');
  });

  it('internalTrafficPolicy Local: local endpoints only; none → DROP', () => {
    const rs = ruleset([f.itpLocal, f.itpLocalNone]);
    expect(eps(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.1.15', 80)))).toEqual([['198.18.1.2:9376', 1, false]]);
    expect(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.1.16', 80)).verdict).toBe('DROP');
  });

  it('ClientIP affinity: a new client is balanced as usual (recent lists start empty)', () => {
    const s = entry('default', 'sticky', '', '198.19.1.180', 80, [endpoint('198.18.1.2', 9376), endpoint('198.18.1.3', 9376)], {
      sessionAffinity: { type: 'ClientIP', timeoutSeconds: 10 },
    });
    expect(eps(traceRuleset(ruleset([s]), pkt(f.POD_CLIENT, '198.19.1.180', 80)))).toEqual([
      ['198.18.1.2:9376', 0.5, false],
      ['198.18.1.3:9376', 0.5, false],
    ]);
  });

  it('multiport, UDP and terminating fallback', () => {
    const rs = ruleset([...f.multiPort, f.udp, f.terminating]);
    expect(eps(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.1.17', 443))).map((e) => e[0])).toEqual(['198.18.1.2:8443', '198.18.1.3:8443']);
    expect(eps(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.0.10', 53, { proto: 'udp' }))).map((e) => e[0])).toEqual(['198.18.1.2:5353', '198.18.1.3:5353']);
    expect(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.0.10', 53)).verdict).toBe('ACCEPT');
    expect(eps(traceRuleset(rs, pkt(f.POD_CLIENT, '198.19.1.18', 80)))).toEqual([['198.18.1.2:9376', 1, false]]);
  });

  it('IPv6', () => {
    const r = renderRuleset(table(f.ipv6), { family: 6, clusterCIDR: '2001:db8:18::/48' });
    const t = traceRuleset(r.filter + r.nat + jumpRulesText(), { src: '2001:db8:18::100', dst: '2001:db8:19::a', dport: 80, proto: 'tcp', localAddresses: ['2001:db8:200::1'] });
    expect(eps(t)).toEqual([
      ['2001:db8:18::2:9376', 0.5, false],
      ['2001:db8:18::3:9376', 0.5, false],
    ]);
    const np = traceRuleset(r.filter + r.nat + jumpRulesText(), { src: '2001:db8:200::100', dst: '2001:db8:200::1', dport: 30084, proto: 'tcp', localAddresses: ['2001:db8:200::1'] });
    expect(np.verdict).toBe('DNAT');
    expect(np.masquerade).toBe(true);
  });

  it('reads iptables-save as the kernel prints it (normalised marks, policies, foreign rules)', () => {
    const save = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':KUBE-SERVICES - [0:0]',
      ':KUBE-MARK-MASQ - [0:0]',
      ':KUBE-POSTROUTING - [0:0]',
      ':KUBE-SVC-X - [0:0]',
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
      '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
      '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
      '-A KUBE-SERVICES -d 198.19.1.1/32 -p tcp -m comment --comment "a/b cluster IP" -m tcp --dport 80 -j KUBE-SVC-X',
      '-A KUBE-SVC-X ! -s 198.18.0.0/16 -d 198.19.1.1/32 -p tcp -m comment --comment "a/b cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ',
      '-A KUBE-SVC-X -p tcp -m comment --comment "a/b -> 198.18.1.2:80" -m tcp -j DNAT --to-destination 198.18.1.2:80',
      'COMMIT',
      '*filter',
      ':FORWARD DROP [0:0]',
      '-A FORWARD -d 198.18.1.2/32 -p tcp -m tcp --dport 80 -j ACCEPT',
      'COMMIT',
    ].join('\n');
    const r = traceRuleset(save, pkt(f.EXTERNAL_CLIENT, '198.19.1.1', 80));
    expect(eps(r)).toEqual([['198.18.1.2:80', 1, true]]);
    // The FORWARD policy applies to what no rule accepts.
    expect(traceRuleset(save, pkt(f.EXTERNAL_CLIENT, '198.19.9.9', 80)).verdict).toBe('DROP');
    expect(parseRuleset(save).get('nat')!.get('KUBE-SVC-X')!.rules).toHaveLength(2);
  });
});
