/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tc_lb's IPv6 path: the same steps as the IPv4 one in tc_lb.bpf.c, over the v6 maps
 * (services6, backends6, conntrack6, affinity6, lb6_config):
 *   reply of a tracked flow   → reverse NAT (source back to [VIP]:port, SNAT undone)
 *   tracked forward flow      → same backend while it exists (deleted: UDP re-picks, TCP RST)
 *   new flow to a frontend    → TCP SYN or UDP: pick (affinity, Maglev or random), track, DNAT
 *                               (+ SNAT: hairpin, external → remote backend, eTP Cluster)
 *   frontend without backends → TCP RST / ICMPv6 port unreachable (dropped under a Local policy)
 *   ICMPv6 error about a NATed flow → its quoted packet translated back (icmp6_nat.h)
 * Not handled here, passed untouched: other ICMPv6 (NDP, echo, MLD), packets with extension
 * headers (counted), loadBalancerSourceRanges (IPv4 only: render.ts does not serve IPv6 LB IPs
 * of a Service that has them).
 */
#ifndef BPFPROXY_TC_LB6_H
#define BPFPROXY_TC_LB6_H

#include "parse6.h"
#include "nat6.h"
#include "conntrack6.h"
#include "lb6.h"
#include "reject6.h"
#include "fib6.h"
#include "icmp6_nat.h"
#include "stats.h"

static __always_inline int handle_reply6(struct __sk_buff *skb, struct pkt6 *p, struct ct6_value *ct)
{
	if (nat6_src(skb, p, ct->nat_addr, ct->nat_port) < 0)
		return drop(STAT_DROP_NAT);
	if (!addr6_zero(ct->orig_addr) && nat6_dst(skb, p, ct->orig_addr, ct->orig_port) < 0)
		return drop(STAT_DROP_NAT);
	return (ct->flags & CT_F_FIB) ? fib6_redirect(skb, p) : TC_ACT_OK;
}

static __always_inline int forward6(struct __sk_buff *skb, struct pkt6 *p, const __be32 *snat, __be16 snat_port,
				    const __be32 *addr, __be16 port, __u16 ct_flags)
{
	if (snat && nat6_src(skb, p, snat, snat_port) < 0)
		return drop(STAT_DROP_NAT);
	if (nat6_dst(skb, p, addr, port) < 0)
		return drop(STAT_DROP_NAT);
	return (ct_flags & CT_F_FIB) ? fib6_redirect(skb, p) : TC_ACT_OK;
}

static __always_inline int counted6(int verdict, __u32 path)
{
	if (verdict != TC_ACT_SHOT)
		stat_inc(path);
	return verdict;
}

static __always_inline int answered6(int verdict, __u32 sent)
{
	if (verdict == TC_ACT_SHOT)
		return drop(STAT_DROP_UNANSWERED);
	stat_inc(sent);
	return verdict;
}

/* A packet of no live flow: a new flow to a frontend, a reject, or not ours. A BPF function
 * of its own, as tc_lb6: the deepest call chain (tc_lb6 → here → ct6_create → ct6_partner)
 * must fit the program's 512-byte stack. */
static __noinline int tc_lb6_new(struct __sk_buff *skb, struct pkt6 *p)
{
	struct svc_value *svc;
	struct backend6_value *be;
	const __be32 *snat;
	__u32 id;
	int err;

	svc = lb6_lookup_service(p->daddr, p->dport, p->proto);
	if (!svc)
		return TC_ACT_OK;
	if (svc->flags & SVC_F_LOCALHOST)
		return TC_ACT_OK;
	if (svc->count == 0)
		return (svc->flags & SVC_F_DROP_EMPTY) ? drop(STAT_DROP_NO_LOCAL_EP) : answered6(reject6(skb, p), STAT_REJECTED);
	if (p->proto == IPPROTO_TCP && !tcp6_bare_syn(p))
		return answered6(reject6_tcp(skb, p), STAT_RESET);

	id = lb6_select(p->daddr, p->dport, p->proto, svc, p->saddr, p, bpf_ktime_get_coarse_ns());
	be = id ? lb6_backend(id) : 0;
	if (!be)
		return drop(STAT_DROP_NO_BACKEND); /* transient: the client retransmits */

	snat = lb6_snat_addr(svc, p->daddr, be, p->saddr);
	/* Both directions through the FIB, as the v4 path (tc_lb.bpf.c says why). */
	err = ct6_create(p, svc->svc_id, id, be, snat);
	if (err < 0)
		return drop(err == CT_ERR_NO_PORT ? STAT_DROP_SNAT_PORTS : STAT_DROP_CT);
	return counted6(forward6(skb, p, snat, (__be16)err, be->ip, be->port, CT_F_FIB), STAT_NEW);
}

/* tc_lb6's packet and keys live in a per-CPU scratch slot rather than on its stack (tc
 * programs do not nest on a CPU): 16-byte addresses would take most of the 512 bytes the call
 * chain may use. */
struct tc6_scratch {
	struct pkt6 p;
	struct ct6_key key;
	struct ct6_key other;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tc6_scratch);
} tc6_scratch SEC(".maps");

/* Its own BPF function (not inlined): its stack frame is apart from the IPv4 path's. */
static __noinline int tc_lb6(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct tc6_scratch *s = bpf_map_lookup_elem(&tc6_scratch, &zero);
	struct pkt6 *p;
	struct ct6_value *ct;
	struct backend6_value *be;
	__u64 now;
	int err;

	if (!s)
		return TC_ACT_OK;
	p = &s->p;
	__builtin_memset(s, 0, sizeof(*s));
	err = parse_ipv6(skb, p);
	if (err == PARSE6_EXTHDR) {
		stat_inc(STAT_PASS_V6_EXTHDR);
		return TC_ACT_OK;
	}
	if (err == PARSE6_ICMP)
		return tc_lb6_icmp(skb);
	if (err < 0)
		return TC_ACT_OK;
	now = bpf_ktime_get_coarse_ns();

	ct6_key_of(&s->key, p);
	ct = bpf_map_lookup_elem(&conntrack6, &s->key);
	if (ct && !ct6_flow_live(&s->key, ct, now, &s->other)) {
		if (!(ct->flags & CT_F_REPLY))
			ct6_delete_flow(&s->key, ct, &s->other);
		ct = 0;
	}
	if (ct && (ct->flags & CT_F_REPLY)) {
		ct6_touch(ct, p, now);
		return counted6(handle_reply6(skb, p, ct), STAT_REPLY);
	}
	if (ct) {
		be = ct6_backend(ct);
		/* A SYN re-balances only when the old backend takes no new flows (as tc_lb4). */
		if (be && !(tcp6_bare_syn(p) && !(be->flags & (BE_F_ACTIVE | BE_F_ACTIVE_EXT)))) {
			ct6_touch(ct, p, now);
			return counted6(forward6(skb, p, addr6_zero(ct->orig_addr) ? 0 : ct->orig_addr, ct->orig_port,
						 ct->nat_addr, ct->nat_port, ct->flags),
					STAT_ESTABLISHED);
		}
		ct6_delete_flow(&s->key, ct, &s->other);
		if (!be && p->proto == IPPROTO_TCP && !tcp6_bare_syn(p))
			return answered6(reject6_tcp(skb, p), STAT_RESET);
	}
	return tc_lb6_new(skb, p);
}

#endif
