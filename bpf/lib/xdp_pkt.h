/* SPDX-License-Identifier: Apache-2.0 */
/* Packet access for xdp_lb: there are no skb helpers at XDP (bpf_skb_store_bytes,
 * bpf_l4_csum_replace), so the frame is parsed and rewritten in place, with the checksums
 * updated incrementally (RFC 1624). Only the plain case is taken: Ethernet (no VLAN tag),
 * IPv4 without options, not a fragment, TCP or UDP; anything else is left to tc_lb. */
#ifndef BPFPROXY_XDP_PKT_H
#define BPFPROXY_XDP_PKT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "parse.h"

/* The frame's headers, bounds-checked against data_end (valid until the frame is resized). */
struct xdp_hdrs {
	struct ethhdr *eth;
	struct iphdr *ip;
	__sum16 *l4_csum; /* TCP or UDP checksum field */
	__be16 *ports;    /* source port, then destination port */
};

/* 0 and *p / *h filled for a frame xdp_lb may handle; <0 for any other (passed on). */
static __always_inline int xdp_parse(struct xdp_md *ctx, struct pkt4 *p, struct xdp_hdrs *h)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return -1;
	/* Options (ihl > 5) and fragments (MF or an offset) go to tc_lb, which handles both. */
	if (ip->version != 4 || ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return -1;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip + 1);

		if ((void *)(tcp + 1) > data_end)
			return -1;
		p->tcp_flags = ((__u8 *)tcp)[13];
		h->l4_csum = &tcp->check;
		h->ports = &tcp->source;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)(ip + 1);

		if ((void *)(udp + 1) > data_end)
			return -1;
		p->tcp_flags = 0;
		h->l4_csum = &udp->check;
		h->ports = &udp->source;
	} else {
		return -1;
	}
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->sport = h->ports[0];
	p->dport = h->ports[1];
	p->proto = ip->protocol;
	p->ihl_ok = 1;
	p->frag = 0;
	p->l4_off = ETH_HLEN + sizeof(*ip);
	p->l4_len = bpf_ntohs(ip->tot_len) - sizeof(*ip);
	h->eth = eth;
	h->ip = ip;
	return 0;
}

/* One's complement 16-bit add with end-around carry. */
static __always_inline __u16 xdp_csum_add16(__u16 a, __u16 b)
{
	__u32 s = (__u32)a + b;

	return (__u16)((s & 0xffff) + (s >> 16));
}

/* HC' = ~(~HC + ~m + m') for one 16-bit word m → m' (RFC 1624 eqn. 3). Byte order does not
 * matter as long as the checksum and the words are read the same way (RFC 1071). */
static __always_inline void xdp_csum_replace2(__sum16 *sum, __u16 from, __u16 to)
{
	*sum = (__sum16)~xdp_csum_add16(xdp_csum_add16((__u16)~*sum, (__u16)~from), to);
}

static __always_inline void xdp_csum_replace4(__sum16 *sum, __be32 from, __be32 to)
{
	xdp_csum_replace2(sum, (__u16)from, (__u16)to);
	xdp_csum_replace2(sum, (__u16)(from >> 16), (__u16)(to >> 16));
}

/* An L4 checksum update: UDP checksum 0 means "none" and stays 0; a UDP sum that comes out
 * 0 is sent as 0xffff (RFC 768). */
static __always_inline void xdp_l4_replace4(__sum16 *sum, int udp, __be32 from, __be32 to)
{
	if (udp && *sum == 0)
		return;
	xdp_csum_replace4(sum, from, to);
	if (udp && *sum == 0)
		*sum = (__sum16)0xffff;
}

static __always_inline void xdp_l4_replace2(__sum16 *sum, int udp, __be16 from, __be16 to)
{
	if (udp && *sum == 0)
		return;
	xdp_csum_replace2(sum, from, to);
	if (udp && *sum == 0)
		*sum = (__sum16)0xffff;
}

/* Source → saddr:sport (0: unchanged), destination → daddr:dport, TTL - 1, MACs from the FIB:
 * the frame leaves as a router would send it. The caller checked TTL > 1. */
static __always_inline void xdp_rewrite(struct xdp_hdrs *h, const struct pkt4 *p, __be32 saddr, __be16 sport,
					__be32 daddr, __be16 dport, const struct bpf_fib_lookup *fib)
{
	int udp = p->proto == IPPROTO_UDP;
	__u16 old_ttl_word = *(__u16 *)&h->ip->ttl;

	if (saddr && saddr != p->saddr) {
		xdp_csum_replace4(&h->ip->check, p->saddr, saddr);
		xdp_l4_replace4(h->l4_csum, udp, p->saddr, saddr);
		h->ip->saddr = saddr;
	}
	if (sport && sport != p->sport) {
		xdp_l4_replace2(h->l4_csum, udp, p->sport, sport);
		h->ports[0] = sport;
	}
	if (daddr != p->daddr) {
		xdp_csum_replace4(&h->ip->check, p->daddr, daddr);
		xdp_l4_replace4(h->l4_csum, udp, p->daddr, daddr);
		h->ip->daddr = daddr;
	}
	if (dport != p->dport) {
		xdp_l4_replace2(h->l4_csum, udp, p->dport, dport);
		h->ports[1] = dport;
	}
	h->ip->ttl--;
	xdp_csum_replace2(&h->ip->check, old_ttl_word, *(__u16 *)&h->ip->ttl);
	__builtin_memcpy(h->eth->h_source, fib->smac, ETH_ALEN);
	__builtin_memcpy(h->eth->h_dest, fib->dmac, ETH_ALEN);
}

#endif
