/* SPDX-License-Identifier: Apache-2.0 */
/* IPv6 parsing (the twin of parse.h). Only a TCP or UDP header directly after the fixed
 * header is parsed: a packet with an extension header (hop-by-hop, routing, fragment,
 * destination options, ...) goes to the stack untranslated, counted (STAT_PASS_V6_EXTHDR). */
#ifndef BPFPROXY_PARSE6_H
#define BPFPROXY_PARSE6_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l2.h"
#include "parse.h"

#define IP6_OFF        L2_HLEN
#define IP6_SADDR_OFF  (L2_HLEN + offsetof(struct ipv6hdr, saddr))
#define IP6_DADDR_OFF  (L2_HLEN + offsetof(struct ipv6hdr, daddr))
#define IP6_HOPS_OFF   (L2_HLEN + offsetof(struct ipv6hdr, hop_limit))

#define NEXTHDR_HOP      0
#define NEXTHDR_ROUTING  43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_ESP      50
#define NEXTHDR_AUTH     51
#define NEXTHDR_ICMPV6   58
#define NEXTHDR_DEST     60
#define NEXTHDR_MOBILITY 135

struct pkt6 {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;   /* TCP_FLAG_* byte (offset 13 of the TCP header) */
	__u16 l4_len;     /* payload_len: the L4 segment (no extension headers) */
	__u32 l4_off;     /* offset of the L4 header from the start of the frame */
	__u32 l4_csum_off;/* offset of the L4 checksum field */
	__be32 tcp_seq;
	__be32 tcp_ack_seq;
};

#define PARSE6_ICMP   (-2) /* ICMPv6 right after the fixed header (NDP, errors, echo) */
#define PARSE6_EXTHDR (-3) /* an extension header we do not walk */

static __always_inline int addr6_eq(const __be32 *a, const __be32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

static __always_inline int addr6_zero(const __be32 *a)
{
	return !(a[0] | a[1] | a[2] | a[3]);
}

static __always_inline void addr6_copy(__be32 *to, const __be32 *from)
{
	to[0] = from[0];
	to[1] = from[1];
	to[2] = from[2];
	to[3] = from[3];
}

/* Whether the frame is IPv6 (Ethernet type, or the version nibble on an L3 device). */
static __always_inline int pkt_is_ipv6(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
#if L2_HLEN
	struct ethhdr *eth = data;

	return (void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IPV6);
#else
	__u8 *v = data;

	return (void *)(v + 1) <= data_end && (*v >> 4) == 6;
#endif
}

/* 0: an IPv6 TCP/UDP packet was parsed; PARSE6_ICMP, PARSE6_EXTHDR; <0 otherwise: not for us. */
static __always_inline int parse_ipv6(struct __sk_buff *skb, struct pkt6 *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip = data + L2_HLEN;
	__u8 nh;

	if ((void *)(ip + 1) > data_end || ip->version != 6)
		return -1;
	nh = ip->nexthdr;
	if (nh == NEXTHDR_ICMPV6)
		return PARSE6_ICMP;
	if (nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING || nh == NEXTHDR_FRAGMENT || nh == NEXTHDR_DEST ||
	    nh == NEXTHDR_AUTH || nh == NEXTHDR_MOBILITY)
		return PARSE6_EXTHDR;
	if (nh != IPPROTO_TCP && nh != IPPROTO_UDP)
		return -1;

	__builtin_memcpy(p->saddr, &ip->saddr, 16);
	__builtin_memcpy(p->daddr, &ip->daddr, 16);
	p->proto = nh;
	p->l4_off = L2_HLEN + sizeof(*ip);
	p->l4_len = bpf_ntohs(ip->payload_len);
	p->tcp_flags = 0;
	p->tcp_seq = 0;
	p->tcp_ack_seq = 0;
	if (nh == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip + 1);

		if ((void *)(tcp + 1) > data_end)
			return -1;
		p->sport = tcp->source;
		p->dport = tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		p->tcp_seq = tcp->seq;
		p->tcp_ack_seq = tcp->ack_seq;
		p->l4_csum_off = p->l4_off + offsetof(struct tcphdr, check);
	} else {
		struct udphdr *udp = (void *)(ip + 1);

		if ((void *)(udp + 1) > data_end)
			return -1;
		p->sport = udp->source;
		p->dport = udp->dest;
		p->l4_csum_off = p->l4_off + offsetof(struct udphdr, check);
	}
	return 0;
}

#endif
