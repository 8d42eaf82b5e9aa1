/* SPDX-License-Identifier: Apache-2.0 */
/* reject.h for IPv6: the offending packet becomes a TCP RST or an ICMPv6 destination
 * unreachable / port unreachable (RFC 4443 3.1) addressed back to its sender, out of the
 * interface it came in on. Both checksums cover the IPv6 pseudo header (RFC 8200 8.1). */
#ifndef BPFPROXY_REJECT6_H
#define BPFPROXY_REJECT6_H

#include "reject.h"
#include "parse6.h"

#define ICMP6_DST_UNREACH       1 /* type */
#define ICMP6_DST_UNREACH_PORT  4 /* code */

struct pseudo_hdr6 {
	__be32 saddr[4];
	__be32 daddr[4];
	__be32 len;     /* upper-layer packet length */
	__u8 zero[3];
	__u8 nexthdr;
};

struct icmp6_hdr_min {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 unused;
};

struct rst6_frame {
	FRAME_L2
	struct ipv6hdr ip;
	struct tcphdr tcp;
};

struct icmp6_frame {
	FRAME_L2
	struct ipv6hdr ip;
	struct icmp6_hdr_min icmp;
	struct ipv6hdr orig_ip;   /* the rejected packet's header ... */
	__u8 orig_l4[8];          /* ... and its first 8 L4 bytes: enough for the sender to find its socket */
};

_Static_assert(__builtin_offsetof(struct rst6_frame, ip) % 4 == 0 && __builtin_offsetof(struct rst6_frame, ip) + 60 == sizeof(struct rst6_frame), "rst6 frame layout");
_Static_assert(__builtin_offsetof(struct icmp6_frame, ip) % 4 == 0 && __builtin_offsetof(struct icmp6_frame, ip) + 96 == sizeof(struct icmp6_frame), "icmp6 frame layout");

static __always_inline __u32 reply_ip6(struct ipv6hdr *ip, const struct pkt6 *p, __u8 nexthdr, __u16 payload_len)
{
	struct pseudo_hdr6 ph = {};

	ip->version = 6;
	ip->priority = 0;
	ip->payload_len = bpf_htons(payload_len);
	ip->nexthdr = nexthdr;
	ip->hop_limit = 64;
	__builtin_memcpy(&ip->saddr, p->daddr, 16); /* the frontend the client talked to */
	__builtin_memcpy(&ip->daddr, p->saddr, 16);
	addr6_copy(ph.saddr, p->daddr);
	addr6_copy(ph.daddr, p->saddr);
	ph.len = bpf_htonl(payload_len);
	ph.nexthdr = nexthdr;
	return csum_buf(&ph, sizeof(ph), 0);
}

/* Not inlined (nor reject6_udp): their frames would not fit tc_lb6's stack. */
static __noinline int reject6_tcp(struct __sk_buff *skb, const struct pkt6 *p)
{
	struct rst6_frame f = {};
	__u32 seglen, sum;
	__u16 doff;

	if (p->tcp_flags & PKT_TCP_RST)
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
	sum = reply_ip6(&f.ip, p, IPPROTO_TCP, sizeof(f.tcp));
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
	f.tcp.check = csum_fold32(csum_buf(&f.tcp, sizeof(f.tcp), sum));

	if (bpf_skb_change_tail(skb, FRAME_LEN(f), 0) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, FRAME_START(f), FRAME_LEN(f), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

static __noinline int reject6_udp(struct __sk_buff *skb, const struct pkt6 *p)
{
	struct icmp6_frame f = {};
	__u32 sum;
	__u16 len = sizeof(f.icmp) + sizeof(f.orig_ip) + sizeof(f.orig_l4);

	if (LOAD_L2(skb, f) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, IP6_OFF, &f.orig_ip, sizeof(f.orig_ip) + sizeof(f.orig_l4)) < 0)
		return TC_ACT_SHOT;
	sum = reply_ip6(&f.ip, p, NEXTHDR_ICMPV6, len);
	f.icmp.type = ICMP6_DST_UNREACH;
	f.icmp.code = ICMP6_DST_UNREACH_PORT;
	f.icmp.checksum = csum_fold32(csum_buf(&f.icmp, len, sum));

	if (bpf_skb_change_tail(skb, FRAME_LEN(f), 0) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, FRAME_START(f), FRAME_LEN(f), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(skb->ifindex, 0);
}

static __always_inline int reject6(struct __sk_buff *skb, const struct pkt6 *p)
{
	return p->proto == IPPROTO_TCP ? reject6_tcp(skb, p) : reject6_udp(skb, p);
}

#endif
