/* SPDX-License-Identifier: Apache-2.0 */
/* Address/port rewrites of a parsed IPv6 packet (the twin of nat.h). IPv6 has no header
 * checksum; the L4 checksum covers the addresses through the pseudo header, so an address
 * rewrite moves it by the one's-complement difference of the 16 bytes (bpf_csum_diff), given
 * to bpf_l4_csum_replace as a ready difference (size 0) with BPF_F_PSEUDO_HDR, which keeps
 * CHECKSUM_PARTIAL skbs right. */
#ifndef BPFPROXY_NAT6_H
#define BPFPROXY_NAT6_H

#include "parse6.h"
#include "csum.h"

static __always_inline int csum6_store_addr(struct __sk_buff *skb, __u32 addr_off, __u32 l4_csum_off, int is_udp,
					    const __be32 *from, const __be32 *to)
{
	__s64 diff;

	/* from/to point at the stack or a map value: both are memory the helpers read. */
	diff = bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0);
	if (diff < 0)
		return -1;
	if (bpf_l4_csum_replace(skb, l4_csum_off, 0, (__u32)diff, BPF_F_PSEUDO_HDR | (is_udp ? BPF_F_MARK_MANGLED_0 : 0)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, to, 16, 0);
}

/* Destination → to:port (DNAT). */
static __always_inline int nat6_dst(struct __sk_buff *skb, struct pkt6 *p, const __be32 *to, __be16 port)
{
	int udp = p->proto == IPPROTO_UDP;

	if (!addr6_eq(to, p->daddr)) {
		if (csum6_store_addr(skb, IP6_DADDR_OFF, p->l4_csum_off, udp, p->daddr, to) < 0)
			return -1;
		addr6_copy(p->daddr, to);
	}
	if (port != p->dport) {
		if (csum_store_port(skb, p->l4_off + 2, p->l4_csum_off, udp, p->dport, port) < 0)
			return -1;
		p->dport = port;
	}
	return 0;
}

/* Source → from:port (reverse NAT, SNAT). */
static __always_inline int nat6_src(struct __sk_buff *skb, struct pkt6 *p, const __be32 *from, __be16 port)
{
	int udp = p->proto == IPPROTO_UDP;

	if (!addr6_eq(from, p->saddr)) {
		if (csum6_store_addr(skb, IP6_SADDR_OFF, p->l4_csum_off, udp, p->saddr, from) < 0)
			return -1;
		addr6_copy(p->saddr, from);
	}
	if (port != p->sport) {
		if (csum_store_port(skb, p->l4_off, p->l4_csum_off, udp, p->sport, port) < 0)
			return -1;
		p->sport = port;
	}
	return 0;
}

#endif
