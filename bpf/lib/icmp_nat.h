/* SPDX-License-Identifier: Apache-2.0 */
/* ICMP errors about NATed flows (destination unreachable, including "fragmentation needed",
 * time exceeded, parameter problem). The error quotes the packet that caused it, as that
 * packet was after our rewrite, and goes to that packet's source: a client (or the SNAT
 * address) for a forward packet, the frontend for a reply. Unless the quoted header is put
 * back to what that endpoint sent, its stack matches the error to no socket: path-MTU
 * discovery of NodePort and LB clients breaks and stalls their uploads (and downloads for
 * errors towards the backend).
 *
 * The quoted packet, reversed, is the conntrack key of the flow's other direction: one
 * lookup finds the flow. Checksums: the quoted IP header keeps a valid checksum, so its
 * one's-complement sum and the ICMP checksum do not change with its addresses; only the
 * quoted ports move the ICMP checksum. The quoted L4 checksum (UDP's is within the 8 bytes
 * quoted) is left as it is: it covers a payload that is not there, and no stack checks it. */
#ifndef BPFPROXY_ICMP_NAT_H
#define BPFPROXY_ICMP_NAT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "icmp.h"
#include "parse.h"
#include "csum.h"
#include "conntrack.h"

#define ICMP4_TIME_EXCEEDED 11
#define ICMP4_PARAMETERPROB 12

struct icmp_err {
	__be32 saddr;        /* outer source (the router that sent the error) */
	__be32 daddr;        /* outer destination */
	__u32 icmp_csum_off; /* ICMP checksum, from the start of the frame */
	__u32 in_ip_off;     /* quoted IP header */
	__u32 in_l4_off;     /* quoted L4 header (its ports) */
	__be32 in_saddr;
	__be32 in_daddr;
	__be16 in_sport;
	__be16 in_dport;
	__u8 in_proto;
};

/* 0: an ICMP error quoting a TCP or UDP packet (without IP options) was parsed. */
static __always_inline int parse_icmp_error(struct __sk_buff *skb, struct icmp_err *e)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip, *in;
	struct icmp4_hdr *icmp;
	__be16 *ports;
	__u32 ihl;

#if L2_HLEN
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
#else
	ip = data;
#endif
	if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->protocol != IPPROTO_ICMP)
		return -1;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip) || ihl > 60 || (ip->frag_off & bpf_htons(0x1fff)))
		return -1;
	icmp = (void *)ip + ihl;
	if ((void *)(icmp + 1) > data_end)
		return -1;
	if (icmp->type != ICMP4_DEST_UNREACH && icmp->type != ICMP4_TIME_EXCEEDED && icmp->type != ICMP4_PARAMETERPROB)
		return -1;
	in = (void *)(icmp + 1);
	if ((void *)(in + 1) > data_end || in->version != 4 || in->ihl != 5)
		return -1;
	if (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP)
		return -1;
	ports = (void *)(in + 1);
	if ((void *)(ports + 2) > data_end)
		return -1;
	e->saddr = ip->saddr;
	e->daddr = ip->daddr;
	e->icmp_csum_off = L2_HLEN + ihl + offsetof(struct icmp4_hdr, checksum);
	e->in_ip_off = L2_HLEN + ihl + sizeof(*icmp);
	e->in_l4_off = e->in_ip_off + sizeof(*in);
	e->in_saddr = in->saddr;
	e->in_daddr = in->daddr;
	e->in_sport = ports[0];
	e->in_dport = ports[1];
	e->in_proto = in->protocol;
	return 0;
}

/* A quoted address: the quoted IP checksum follows it (and with it the ICMP sum is unchanged). */
static __always_inline int icmp_quote_addr(struct __sk_buff *skb, const struct icmp_err *e, __u32 field, __be32 from, __be32 to)
{
	if (from == to)
		return 0;
	if (bpf_l3_csum_replace(skb, e->in_ip_off + offsetof(struct iphdr, check), from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, e->in_ip_off + field, &to, sizeof(to), 0);
}

/* A quoted port: the ICMP checksum covers it. */
static __always_inline int icmp_quote_port(struct __sk_buff *skb, const struct icmp_err *e, __u32 off, __be16 from, __be16 to)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, e->icmp_csum_off, from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, e->in_l4_off + off, &to, sizeof(to), 0);
}

/* The outer destination (IP checksum only: ICMP has no pseudo header). */
static __always_inline int icmp_outer_daddr(struct __sk_buff *skb, struct icmp_err *e, __be32 to)
{
	if (to == e->daddr)
		return 0;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, e->daddr, to, sizeof(to)) < 0 ||
	    bpf_skb_store_bytes(skb, IP_DADDR_OFF, &to, sizeof(to), 0) < 0)
		return -1;
	e->daddr = to;
	return 0;
}

/* Puts the quoted packet back to what the error's recipient sent. 1: rewritten (e->daddr is
 * the new outer destination); 0: not about a flow of ours; <0: a rewrite failed. */
static __always_inline int icmp_error_nat(struct __sk_buff *skb, struct icmp_err *e, __u64 now)
{
	struct ct_key k = {};
	struct ct_value *ct;
	__be32 saddr = e->in_saddr, daddr = e->in_daddr, out = e->daddr;
	__be16 sport = e->in_sport, dport = e->in_dport;

	k.saddr = e->in_daddr;
	k.daddr = e->in_saddr;
	k.sport = e->in_dport;
	k.dport = e->in_sport;
	k.proto = e->in_proto;
	ct = bpf_map_lookup_elem(&conntrack, &k);
	if (!ct || !ct_flow_live(&k, ct, now))
		return 0;
	if (ct->flags & CT_F_REPLY) {
		/* A forward packet's error, to the client (or the SNAT address): it sent to the
		 * frontend, from its own address and port. */
		daddr = ct->nat_addr;
		dport = ct->nat_port;
		if (ct->orig_addr) {
			saddr = ct->orig_addr;
			sport = ct->orig_port;
			out = ct->orig_addr;
		}
	} else {
		/* A reply's error, to the frontend: the backend sent it, to the client or SNAT address. */
		saddr = ct->nat_addr;
		sport = ct->nat_port;
		if (ct->orig_addr) {
			daddr = ct->orig_addr;
			dport = ct->orig_port;
		}
		out = ct->nat_addr;
	}
	if (icmp_quote_addr(skb, e, offsetof(struct iphdr, saddr), e->in_saddr, saddr) < 0 ||
	    icmp_quote_addr(skb, e, offsetof(struct iphdr, daddr), e->in_daddr, daddr) < 0 ||
	    icmp_quote_port(skb, e, 0, e->in_sport, sport) < 0 ||
	    icmp_quote_port(skb, e, 2, e->in_dport, dport) < 0 ||
	    icmp_outer_daddr(skb, e, out) < 0)
		return -1;
	return 1;
}

#endif
