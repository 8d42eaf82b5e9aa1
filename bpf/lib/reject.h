/* SPDX-License-Identifier: Apache-2.0 */
/* Reject without a socket: turn the offending packet into a TCP RST or an ICMP port
 * unreachable addressed back to the sender, and send it out of the interface it came in on. */
#ifndef BPFPROXY_REJECT_H
#define BPFPROXY_REJECT_H

#include "parse.h"
#include "icmp.h"
#include "csum.h"

struct pseudo_hdr4 {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
};

/* With Ethernet, frames start 2 bytes into the struct so the IP header is 4-byte aligned
 * (stack accesses must be aligned); `pad` is not sent. On L3 devices they start at the IP
 * header. */
#if L2_HLEN
#define FRAME_L2 __u16 pad; struct ethhdr eth;
#define FRAME_START(f) ((void *)&(f).eth)
#else
#define FRAME_L2
#define FRAME_START(f) ((void *)&(f).ip)
#endif

struct rst_frame {
	FRAME_L2
	struct iphdr ip;
	struct tcphdr tcp;
};

struct icmp_frame {
	FRAME_L2
	struct iphdr ip;
	struct icmp4_hdr icmp;
	struct iphdr orig_ip;   /* the rejected packet's IP header ... */
	__u8 orig_l4[8];        /* ... and its first 8 L4 bytes (RFC 792) */
};

#define FRAME_LEN(f) (sizeof(f) - (FRAME_START(f) - (void *)&(f)))
_Static_assert(__builtin_offsetof(struct rst_frame, ip) % 4 == 0 && __builtin_offsetof(struct rst_frame, ip) + 40 == sizeof(struct rst_frame), "rst frame layout");
_Static_assert(__builtin_offsetof(struct icmp_frame, orig_ip) % 4 == 0 && __builtin_offsetof(struct icmp_frame, ip) + 56 == sizeof(struct icmp_frame), "icmp frame layout");

static __always_inline void reply_ip(struct iphdr *ip, const struct pkt4 *p, __u8 proto, __u16 tot_len)
{
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000); /* DF */
	ip->ttl = 64;
	ip->protocol = proto;
	ip->check = 0;
	ip->saddr = p->daddr;             /* the frontend the client talked to */
	ip->daddr = p->saddr;
	ip->check = csum_fold32(csum_buf(ip, sizeof(*ip), 0));
}

#if L2_HLEN
static __always_inline int load_eth_swapped(struct __sk_buff *skb, struct ethhdr *eth)
{
	struct ethhdr in;

	if (bpf_skb_load_bytes(skb, 0, &in, sizeof(in)) < 0)
		return -1;
	__builtin_memcpy(eth->h_dest, in.h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, in.h_dest, ETH_ALEN);
	eth->h_proto = in.h_proto;
	return 0;
}
#define LOAD_L2(skb, f) load_eth_swapped(skb, &(f).eth)
#else
#define LOAD_L2(skb, f) 0
#endif

/* RFC 793 reset generation: ACK set → seq = their ack; else ack their segment. */
static __always_inline int reject_tcp(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct rst_frame f = {};
	struct pseudo_hdr4 ph = {};
	__u32 seglen, sum;
	__u16 doff;

	if (!p->ihl_ok || (p->tcp_flags & PKT_TCP_RST))
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, p->l4_off + 12, &doff, sizeof(doff)) < 0)
		return TC_ACT_SHOT;
	doff = ((doff & 0xf0) >> 4) * 4;
	seglen = p->l4_len - doff;
	if (p->tcp_flags & PKT_TCP_SYN)
		seglen++;
	if (p->tcp_flags & PKT_TCP_FIN)
		seglen++;

	if (LOAD_L2(skb, f) < 0)
		return TC_ACT_SHOT;
	reply_ip(&f.ip, p, IPPROTO_TCP, sizeof(f.ip) + sizeof(f.tcp));
	f.tcp.source = p->dport;
	f.tcp.dest = p->sport;
	f.tcp.doff = 5;
	f.tcp.rst = 1;
	if (p->tcp_flags & PKT_TCP_ACK) {
		f.tcp.seq = p->tcp_ack_seq;
	} else {
		f.tcp.ack = 1;
		f.tcp.ack_seq = bpf_htonl(bpf_ntohl(p->tcp_seq) + seglen);
	}
	ph.saddr = f.ip.saddr;
	ph.daddr = f.ip.daddr;
	ph.proto = IPPROTO_TCP;
	ph.len = bpf_htons(sizeof(f.tcp));
	sum = csum_buf(&ph, sizeof(ph), 0);
	f.tcp.check = csum_fold32(csum_buf(&f.tcp, sizeof(f.tcp), sum));

	if (bpf_skb_change_tail(skb, FRAME_LEN(f), 0) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, FRAME_START(f), FRAME_LEN(f), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

static __always_inline int reject_udp(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct icmp_frame f = {};

	if (!p->ihl_ok)
		return TC_ACT_SHOT;
	if (LOAD_L2(skb, f) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, IP_OFF, &f.orig_ip, sizeof(f.orig_ip) + sizeof(f.orig_l4)) < 0)
		return TC_ACT_SHOT;
	reply_ip(&f.ip, p, IPPROTO_ICMP, FRAME_LEN(f) - L2_HLEN);
	f.icmp.type = ICMP4_DEST_UNREACH;
	f.icmp.code = ICMP4_PORT_UNREACH;
	f.icmp.checksum = csum_fold32(csum_buf(&f.icmp, sizeof(f.icmp) + sizeof(f.orig_ip) + sizeof(f.orig_l4), 0));

	if (bpf_skb_change_tail(skb, FRAME_LEN(f), 0) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, FRAME_START(f), FRAME_LEN(f), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

static __always_inline int reject(struct __sk_buff *skb, const struct pkt4 *p)
{
	return p->proto == IPPROTO_TCP ? reject_tcp(skb, p) : reject_udp(skb, p);
}

#endif
