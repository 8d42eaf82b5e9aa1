/* SPDX-License-Identifier: Apache-2.0 */
/* Forward a rewritten packet ourselves (FIB lookup + redirect with neighbour resolution).
 * Needed when the rewrite gave the packet a source address that is local to the node (a
 * NodePort reply, an SNAT to the node address): the stack would drop it as a martian on
 * ingress. Everything the lookup cannot place is left to the stack. */
#ifndef BPFPROXY_FIB_H
#define BPFPROXY_FIB_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "parse.h"
#include "csum.h"
#include "stats.h"

#ifndef AF_INET
#define AF_INET 2
#endif

#if !L2_HLEN
/* bpf_redirect_neigh takes a packet with an Ethernet header (it strips it and resolves the
 * next hop itself, for an Ethernet or an L3 egress alike); an L3 device's packet gets an
 * empty one first. */
static __always_inline int l3_push_eth(struct __sk_buff *skb)
{
	struct ethhdr eth = { .h_proto = bpf_htons(ETH_P_IP) };

	if (bpf_skb_change_head(skb, ETH_HLEN, 0) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0);
}
#endif

static __always_inline int fib_redirect(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct bpf_fib_lookup fib = {};
	__u8 ttl;
	__be16 old, new;
	long rc;

	fib.family = AF_INET;
	fib.l4_protocol = p->proto;
	fib.sport = p->sport;
	fib.dport = p->dport;
	/* tot_len stays 0: the helper then checks the MTU with is_skb_forwardable(), which
	 * knows GSO/GRO packets are segmented later. A length given here is compared with the
	 * MTU as is, so every super-packet came back FRAG_NEEDED and bulk flows stalled. */
	fib.ipv4_src = p->saddr;
	fib.ipv4_dst = p->daddr;
	fib.ifindex = skb->ingress_ifindex;

	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_OK;

	/* We are a router hop now: decrement the TTL (the stack does it when it forwards). */
	if (bpf_skb_load_bytes(skb, IP_OFF + 8, &ttl, 1) < 0 || ttl <= 1)
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, IP_OFF + 8, &old, 2) < 0)
		return TC_ACT_OK;
	new = old;
	((__u8 *)&new)[0] = ttl - 1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old, new, 2) < 0 ||
	    bpf_skb_store_bytes(skb, IP_OFF + 8, &new, 2, 0) < 0)
		return drop(STAT_DROP_FIB);
#if !L2_HLEN
	if (l3_push_eth(skb) < 0)
		return drop(STAT_DROP_FIB);
#endif
	return bpf_redirect_neigh(fib.ifindex, 0, 0, 0);
}

#endif
