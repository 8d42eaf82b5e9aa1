/* SPDX-License-Identifier: Apache-2.0 */
/* fib.h for IPv6: forward a rewritten packet ourselves (FIB lookup + redirect with neighbour
 * resolution), decrementing the hop limit (no header checksum to fix). What the lookup cannot
 * place goes to the stack. */
#ifndef BPFPROXY_FIB6_H
#define BPFPROXY_FIB6_H

#include "fib.h"
#include "parse6.h"

#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Not inlined: the lookup struct would sit in the frame of every caller. */
static __noinline int fib6_redirect(struct __sk_buff *skb, const struct pkt6 *p)
{
	struct bpf_fib_lookup fib = {};
	__u8 hops;
	long rc;

	fib.family = AF_INET6;
	fib.l4_protocol = p->proto;
	fib.sport = p->sport;
	fib.dport = p->dport;
	/* tot_len 0, as fib_redirect: the MTU check then knows GSO packets. */
	__builtin_memcpy(fib.ipv6_src, p->saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, p->daddr, 16);
	fib.ifindex = skb->ingress_ifindex;

	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_OK;
	/* A router hop: the stack would send time exceeded for the last hop, so leave it that one. */
	if (bpf_skb_load_bytes(skb, IP6_HOPS_OFF, &hops, 1) < 0 || hops <= 1)
		return TC_ACT_OK;
	hops--;
	if (bpf_skb_store_bytes(skb, IP6_HOPS_OFF, &hops, 1, 0) < 0)
		return drop(STAT_DROP_FIB);
#if !L2_HLEN
	{
		struct ethhdr eth = { .h_proto = bpf_htons(ETH_P_IPV6) };

		if (bpf_skb_change_head(skb, ETH_HLEN, 0) < 0 || bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) < 0)
			return drop(STAT_DROP_FIB);
	}
#endif
	return bpf_redirect_neigh(fib.ifindex, 0, 0, 0);
}

#endif
