/* SPDX-License-Identifier: Apache-2.0 */
/* Address/port rewrites of a parsed IPv4 packet (checksums kept valid). */
#ifndef BPFPROXY_NAT_H
#define BPFPROXY_NAT_H

#include "parse.h"
#include "csum.h"

/* An address of a fragment after the first: it has no L4 header (the first fragment's L4
 * checksum, rewritten there, covers the whole datagram), so only the IP checksum follows. */
static __always_inline int store_addr_l3(struct __sk_buff *skb, __u32 addr_off, __be32 from, __be32 to)
{
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, &to, sizeof(to), 0);
}

/* Destination → to:port (DNAT of a new or established forward flow). */
static __always_inline int nat_dst(struct __sk_buff *skb, struct pkt4 *p, __be32 to, __be16 port)
{
	int udp = p->proto == IPPROTO_UDP;

	if (PKT_FRAG_LATER(p)) {
		if (to != p->daddr && store_addr_l3(skb, IP_DADDR_OFF, p->daddr, to) < 0)
			return -1;
		p->daddr = to;
		p->dport = port;
		return 0;
	}
	if (to != p->daddr) {
		if (csum_store_addr(skb, IP_DADDR_OFF, p->l4_csum_off, udp, p->daddr, to) < 0)
			return -1;
		p->daddr = to;
	}
	if (port != p->dport) {
		if (csum_store_port(skb, p->l4_off + 2, p->l4_csum_off, udp, p->dport, port) < 0)
			return -1;
		p->dport = port;
	}
	return 0;
}

/* Source → from:port (reverse NAT of replies, hairpin SNAT). */
static __always_inline int nat_src(struct __sk_buff *skb, struct pkt4 *p, __be32 from, __be16 port)
{
	int udp = p->proto == IPPROTO_UDP;

	if (PKT_FRAG_LATER(p)) {
		if (from != p->saddr && store_addr_l3(skb, IP_SADDR_OFF, p->saddr, from) < 0)
			return -1;
		p->saddr = from;
		p->sport = port;
		return 0;
	}
	if (from != p->saddr) {
		if (csum_store_addr(skb, IP_SADDR_OFF, p->l4_csum_off, udp, p->saddr, from) < 0)
			return -1;
		p->saddr = from;
	}
	if (port != p->sport) {
		if (csum_store_port(skb, p->l4_off, p->l4_csum_off, udp, p->sport, port) < 0)
			return -1;
		p->sport = port;
	}
	return 0;
}

#endif
