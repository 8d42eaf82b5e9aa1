/* SPDX-License-Identifier: Apache-2.0 */
/* ICMPv6 errors about NATed flows (RFC 4443: destination unreachable, packet too big, time
 * exceeded, parameter problem): the twin of icmp_nat.h. The error quotes the packet that caused
 * it as it was after our rewrite; the quoted header is put back to what the error's recipient
 * sent, and the error goes to that recipient (so path-MTU discovery of IPv6 clients works
 * through a Service). The quoted packet, reversed, is the conntrack6 key of the flow's other
 * direction.
 * Checksums: ICMPv6 has one checksum over the pseudo header (outer addresses) and the whole
 * message (the quoted packet included; IPv6 headers have no checksum of their own). So a
 * quoted address or port moves it by its difference, and the outer destination by its
 * difference through BPF_F_PSEUDO_HDR. The quoted L4 checksum is left as it is (as in IPv4).
 * Any other ICMPv6 (NDP, echo, MLD) passes untouched. */
#ifndef BPFPROXY_ICMP6_NAT_H
#define BPFPROXY_ICMP6_NAT_H

#include "parse6.h"
#include "conntrack6.h"
#include "fib6.h"
#include "stats.h"

#define ICMP6_PKT_TOOBIG   2
#define ICMP6_TIME_EXCEED  3
#define ICMP6_PARAMPROB    4
/* ICMP6_DST_UNREACH (1) in reject6.h */

struct icmp6_err {
	__be32 saddr[4];     /* outer source (the router that sent the error) */
	__be32 daddr[4];     /* outer destination */
	__be32 in_saddr[4];  /* quoted source */
	__be32 in_daddr[4];  /* quoted destination */
	__be16 in_sport;
	__be16 in_dport;
	__u8 in_proto;
};

#define ICMP6_CSUM_OFF  (L2_HLEN + sizeof(struct ipv6hdr) + 2)
#define ICMP6_IN_IP_OFF (L2_HLEN + sizeof(struct ipv6hdr) + 8)
#define ICMP6_IN_L4_OFF (ICMP6_IN_IP_OFF + sizeof(struct ipv6hdr))

/* 0: an ICMPv6 error quoting a TCP or UDP packet (no extension headers) was parsed. */
static __always_inline int parse_icmp6_error(struct __sk_buff *skb, struct icmp6_err *e)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip = data + L2_HLEN, *in;
	__u8 *icmp;
	__be16 *ports;

	if ((void *)(ip + 1) > data_end || ip->nexthdr != NEXTHDR_ICMPV6)
		return -1;
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 8) > data_end)
		return -1;
	if (icmp[0] != 1 && icmp[0] != ICMP6_PKT_TOOBIG && icmp[0] != ICMP6_TIME_EXCEED && icmp[0] != ICMP6_PARAMPROB)
		return -1;
	in = (void *)(icmp + 8);
	if ((void *)(in + 1) > data_end || in->version != 6)
		return -1;
	if (in->nexthdr != IPPROTO_TCP && in->nexthdr != IPPROTO_UDP)
		return -1;
	ports = (void *)(in + 1);
	if ((void *)(ports + 2) > data_end)
		return -1;
	__builtin_memcpy(e->saddr, &ip->saddr, 16);
	__builtin_memcpy(e->daddr, &ip->daddr, 16);
	__builtin_memcpy(e->in_saddr, &in->saddr, 16);
	__builtin_memcpy(e->in_daddr, &in->daddr, 16);
	e->in_sport = ports[0];
	e->in_dport = ports[1];
	e->in_proto = in->nexthdr;
	return 0;
}

/* A 16-byte address at off: inside the message (pseudo 0) or the outer one (pseudo 1). */
static __always_inline int icmp6_store_addr(struct __sk_buff *skb, __u32 off, const __be32 *from, const __be32 *to, int pseudo)
{
	__s64 diff;

	if (addr6_eq(from, to))
		return 0;
	diff = bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0);
	if (diff < 0 || bpf_l4_csum_replace(skb, ICMP6_CSUM_OFF, 0, (__u32)diff, pseudo ? BPF_F_PSEUDO_HDR : 0) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, to, 16, 0);
}

static __always_inline int icmp6_store_port(struct __sk_buff *skb, __u32 off, __be16 from, __be16 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, ICMP6_CSUM_OFF, from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0);
}

/* The ICMPv6 path of tc_lb6 (its own BPF function: a frame of its own). An error about one of
 * our flows goes on translated, routed like the flow's packets; anything else passes. */
static __noinline int tc_lb6_icmp(struct __sk_buff *skb)
{
	struct icmp6_err e = {};
	struct ct6_key k = {};
	struct ct6_value *ct;
	struct pkt6 o = {};
	const __be32 *saddr, *daddr, *out;
	__be16 sport, dport;
	int rc;

	if (parse_icmp6_error(skb, &e) < 0)
		return TC_ACT_OK;
	addr6_copy(k.saddr, e.in_daddr);
	addr6_copy(k.daddr, e.in_saddr);
	k.sport = e.in_dport;
	k.dport = e.in_sport;
	k.proto = e.in_proto;
	ct = bpf_map_lookup_elem(&conntrack6, &k);
	if (!ct || !ct6_entry_live(ct, bpf_ktime_get_coarse_ns()))
		return TC_ACT_OK;
	saddr = e.in_saddr;
	daddr = e.in_daddr;
	sport = e.in_sport;
	dport = e.in_dport;
	if (ct->flags & CT_F_REPLY) {
		/* A forward packet's error, to the client (or the SNAT address): it sent to the
		 * frontend, from its own address and port. */
		daddr = ct->nat_addr;
		dport = ct->nat_port;
		out = e.daddr;
		if (!addr6_zero(ct->orig_addr)) {
			saddr = ct->orig_addr;
			sport = ct->orig_port;
			out = ct->orig_addr;
		}
	} else {
		/* A reply's error, to the frontend: the backend sent it, to the client or SNAT address. */
		saddr = ct->nat_addr;
		sport = ct->nat_port;
		if (!addr6_zero(ct->orig_addr)) {
			daddr = ct->orig_addr;
			dport = ct->orig_port;
		}
		out = ct->nat_addr;
	}
	if (icmp6_store_addr(skb, ICMP6_IN_IP_OFF + offsetof(struct ipv6hdr, saddr), e.in_saddr, saddr, 0) < 0 ||
	    icmp6_store_addr(skb, ICMP6_IN_IP_OFF + offsetof(struct ipv6hdr, daddr), e.in_daddr, daddr, 0) < 0 ||
	    icmp6_store_port(skb, ICMP6_IN_L4_OFF, e.in_sport, sport) < 0 ||
	    icmp6_store_port(skb, ICMP6_IN_L4_OFF + 2, e.in_dport, dport) < 0 ||
	    icmp6_store_addr(skb, IP6_DADDR_OFF, e.daddr, out, 1) < 0)
		return drop(STAT_DROP_NAT);
	addr6_copy(o.saddr, e.saddr);
	addr6_copy(o.daddr, out);
	o.proto = NEXTHDR_ICMPV6;
	rc = fib6_redirect(skb, &o);
	if (rc != TC_ACT_SHOT)
		stat_inc(STAT_ICMP_ERROR);
	return rc;
}

#endif
