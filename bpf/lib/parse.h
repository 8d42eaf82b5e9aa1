/* SPDX-License-Identifier: Apache-2.0 */
/* Packet parsing: copy what the LB needs out of the packet once, so later helper calls
 * (which invalidate packet pointers) never need the pointers again. */
#ifndef BPFPROXY_PARSE_H
#define BPFPROXY_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "l2.h"

struct pkt4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;   /* TCP_FLAG_* byte (offset 13 of the TCP header) */
	__u8 ihl_ok;      /* IP header without options (the reject path needs it) */
	__u8 pad;
	__u32 l4_off;     /* offset of the L4 header from the start of the frame */
	__u32 l4_csum_off;/* offset of the L4 checksum field */
	__be32 tcp_seq;
	__be32 tcp_ack_seq;
	__u16 l4_len;     /* tot_len - ip header length */
	__be16 ip_id;     /* IP identification (fragments) */
	__u8 frag;        /* PKT_FRAG_*, or 0 for a whole datagram */
};

#define PKT_FRAG_FIRST  1 /* offset 0, more fragments follow: has the L4 header */
#define PKT_FRAG_MIDDLE 2 /* offset > 0, more follow: no L4 header; ports come from frag4 */
#define PKT_FRAG_LAST   3 /* offset > 0, the last one */
#define PKT_FRAG_LATER(p) ((p)->frag >= PKT_FRAG_MIDDLE)

#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_ACK 0x10

#define PARSE_ICMP (-2) /* an IPv4 ICMP packet (maybe an error about a NATed flow: icmp_nat.h) */

/* 0: an IPv4 TCP/UDP packet was parsed: whole, a first fragment, or a later fragment (frag =
 * PKT_FRAG_MIDDLE/LAST: addresses, proto and id only; its ports come from frag4); PARSE_ICMP;
 * <0: not for us. */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt4 *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip;
	__u32 ihl;

#if L2_HLEN
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
#else
	ip = data; /* an L3 device: IPv4 or IPv6 by the version nibble, checked below */
#endif
	if ((void *)(ip + 1) > data_end)
		return -1;
	ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < sizeof(*ip))
		return -1;
	if (ip->protocol == IPPROTO_ICMP)
		return PARSE_ICMP;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return -1;

	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->ihl_ok = ihl == sizeof(*ip);
	p->l4_off = L2_HLEN + ihl;
	p->l4_len = bpf_ntohs(ip->tot_len) - ihl;
	p->tcp_flags = 0;
	p->tcp_seq = 0;
	p->tcp_ack_seq = 0;
	p->ip_id = ip->id;
	p->frag = 0;
	if (ip->frag_off & bpf_htons(0x1fff)) {
		/* A later fragment: no L4 header to read. */
		p->frag = (ip->frag_off & bpf_htons(0x2000)) ? PKT_FRAG_MIDDLE : PKT_FRAG_LAST;
		p->sport = 0;
		p->dport = 0;
		return 0;
	}
	if (ip->frag_off & bpf_htons(0x2000))
		p->frag = PKT_FRAG_FIRST;

	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)ip + ihl;

		if ((void *)(tcp + 1) > data_end)
			return -1;
		p->sport = tcp->source;
		p->dport = tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		p->tcp_seq = tcp->seq;
		p->tcp_ack_seq = tcp->ack_seq;
		p->l4_csum_off = p->l4_off + offsetof(struct tcphdr, check);
	} else {
		struct udphdr *udp = (void *)ip + ihl;

		if ((void *)(udp + 1) > data_end)
			return -1;
		p->sport = udp->source;
		p->dport = udp->dest;
		p->l4_csum_off = p->l4_off + offsetof(struct udphdr, check);
	}
	return 0;
}

#endif
