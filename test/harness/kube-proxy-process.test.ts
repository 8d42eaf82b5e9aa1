// The suite reads kube-proxy's kernel state back as frontends and endpoints (inspect's
// summary, which answered.ts programmedEndpoints parses): checked on rules as the real
// kube-proxy v1.37.2 wrote them in this suite (iptables-save, nft list table).
import { describe, expect, it } from 'vitest';
import { programmedEndpoints } from '../conformance/answered.js';
import { clusterIPSummary, nftClusterIPSummary } from './kube-proxy-process.js';

describe('kube-proxy state summaries', () => {
  it('iptables: KUBE-SERVICES → KUBE-SVC → KUBE-SEP DNAT targets', () => {
    const save = [
      '*nat',
      '-A KUBE-SEP-DVSQAGEIK3LLL4SC -s 198.18.1.6/32 -m comment --comment "default/udpflow" -j KUBE-MARK-MASQ',
      '-A KUBE-SEP-DVSQAGEIK3LLL4SC -p udp -m comment --comment "default/udpflow" -m udp -j DNAT --to-destination 198.18.1.6:9376',
      '-A KUBE-SEP-AAAAAAAAAAAAAAAA -p udp -m comment --comment "default/udpflow" -m udp -j DNAT --to-destination 198.18.1.2:9376',
      '-A KUBE-SERVICES -d 198.19.0.1/32 -p tcp -m comment --comment "default/kubernetes:https has no endpoints" -m tcp --dport 443 -j REJECT --reject-with icmp-port-unreachable',
      '-A KUBE-SERVICES -d 198.19.1.205/32 -p udp -m comment --comment "default/udpflow cluster IP" -m udp --dport 53 -j KUBE-SVC-2MQEENXLLIUHLDJ2',
      '-A KUBE-SVC-2MQEENXLLIUHLDJ2 ! -s 198.18.0.0/16 -d 198.19.1.205/32 -p udp -m comment --comment "default/udpflow cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ',
      '-A KUBE-SVC-2MQEENXLLIUHLDJ2 -m comment --comment "default/udpflow -> 198.18.1.2:9376" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-AAAAAAAAAAAAAAAA',
      '-A KUBE-SVC-2MQEENXLLIUHLDJ2 -m comment --comment "default/udpflow -> 198.18.1.6:9376" -j KUBE-SEP-DVSQAGEIK3LLL4SC',
      'COMMIT',
    ].join('\n');
    const s = clusterIPSummary(save);
    expect(programmedEndpoints(s, '198.19.1.205:53')).toEqual(['198.18.1.2', '198.18.1.6']);
    expect(programmedEndpoints(s, '198.19.0.1:443')).toBeUndefined(); // rejected, no frontend chain
  });

  it('nftables: service-ips → one dnat, or a numgen map over several', () => {
    const table = `table ip kube-proxy {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"
		elements = { 198.19.1.205 . udp . 53 : goto service-R5FDFGJU-default/udpflow/udp/,
			     198.19.1.196 . tcp . 80 : goto service-ABCDEFGH-default/steady/tcp/ }
	}

	chain service-R5FDFGJU-default/udpflow/udp/ {
		ip daddr 198.19.1.205 udp dport 53 ip saddr != 198.18.0.0/16 jump mark-for-masquerade
		meta l4proto udp dnat to 198.18.1.6:9376
	}

	chain service-ABCDEFGH-default/steady/tcp/ {
		meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 198.18.1.2 . 9376, 1 : 198.18.1.3 . 9376 }
	}
}
`;
    const s = nftClusterIPSummary(table);
    expect(programmedEndpoints(s, '198.19.1.205:53')).toEqual(['198.18.1.6']);
    expect(programmedEndpoints(s, '198.19.1.196:80')).toEqual(['198.18.1.2', '198.18.1.3']);
  });
});
