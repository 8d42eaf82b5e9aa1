/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tc ingress load balancer (every non-loopback interface of the node netns).
 *   reply of a tracked flow  → reverse NAT (source back to VIP:port, hairpin undone)
 *   tracked forward flow     → same backend while it exists (deleted: UDP re-picks, TCP RST)
 *   new flow to a frontend   → (TCP SYN or any UDP datagram) pick a backend (ClientIP
 *                              affinity, else Maglev or random), track, DNAT; other TCP
 *                              segments get an RST
 *   frontend without backends→ TCP RST / ICMP port unreachable, sent back out at once
 *                              (dropped when a Local traffic policy left none on this node)
 *   LB IP with source ranges   → new flows from sources outside them dropped (lb_src_range)
 *   SNAT of new flows          → hairpin, and external frontends to backends on other nodes;
 *                              the source port is allocated per flow (lib/conntrack.h)
 * IPv6 takes the same steps over the v6 maps (lib/tc_lb6.h).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/nat.h"
#include "lib/conntrack.h"
#include "lib/lb.h"
#include "lib/reject.h"
#include "lib/fib.h"
#include "lib/stats.h"
#include "lib/icmp_nat.h"
#include "lib/frag.h"
#include "lib/tc_lb6.h"

/* The reply entry holds the frontend the client talked to (and, after SNAT, the client's own
 * address and port): no other map is read on this path. */
static __always_inline int handle_reply(struct __sk_buff *skb, struct pkt4 *p, struct ct_value *ct)
{
	if (nat_src(skb, p, ct->nat_addr, ct->nat_port) < 0)
		return drop(STAT_DROP_NAT);
	/* orig_port 0: an entry from before per-flow SNAT ports, which kept the client's port. */
	if (ct->orig_addr && nat_dst(skb, p, ct->orig_addr, ct->orig_port ? ct->orig_port : p->dport) < 0)
		return drop(STAT_DROP_NAT);
	return (ct->flags & CT_F_FIB) ? fib_redirect(skb, p) : TC_ACT_OK;
}

static __always_inline int forward(struct __sk_buff *skb, struct pkt4 *p, __be32 snat, __be16 snat_port,
				   __be32 addr, __be16 port, __u16 ct_flags)
{
	if (snat && nat_src(skb, p, snat, snat_port ? snat_port : p->sport) < 0)
		return drop(STAT_DROP_NAT);
	if (nat_dst(skb, p, addr, port) < 0)
		return drop(STAT_DROP_NAT);
	return (ct_flags & CT_F_FIB) ? fib_redirect(skb, p) : TC_ACT_OK;
}

/* A packet that went on counts on its path; a dropped one only under its drop reason. */
static __always_inline int counted(int verdict, __u32 path)
{
	if (verdict != TC_ACT_SHOT)
		stat_inc(path);
	return verdict;
}

/* An ICMP error about one of our flows goes on with the packet it quotes translated back
 * (icmp_nat.h), routed like the flow's own packets; any other ICMP passes untouched. */
static __always_inline int handle_icmp(struct __sk_buff *skb)
{
	struct icmp_err e = {};
	struct pkt4 o = {};
	int rc;

	if (parse_icmp_error(skb, &e) < 0)
		return TC_ACT_OK;
	rc = icmp_error_nat(skb, &e, bpf_ktime_get_coarse_ns());
	if (rc == 0)
		return TC_ACT_OK;
	if (rc < 0)
		return drop(STAT_DROP_NAT);
	o.saddr = e.saddr;
	o.daddr = e.daddr;
	o.proto = IPPROTO_ICMP;
	return counted(fib_redirect(skb, &o), STAT_ICMP_ERROR);
}

/* An RST / ICMP answer (reject.h) counted as `sent`, or as unanswered when none went out. */
static __always_inline int answered(int verdict, __u32 sent)
{
	if (verdict == TC_ACT_SHOT)
		return drop(STAT_DROP_UNANSWERED);
	stat_inc(sent);
	return verdict;
}

#ifdef BPFPROXY_L3
#define TC_LB_PROG tc_lb_l3
#else
#define TC_LB_PROG tc_lb
#endif

/* The IPv4 path, a BPF function of its own as tc_lb6 is: the program's stack limit (512 bytes)
 * then holds the deepest chain of either family, not the two side by side. */
static __noinline int tc_lb4(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ct_key key = {};
	struct ct_value *ct;
	struct svc_value *svc;
	struct backend_value *be;
	struct lb_flow flow = {};
	__be32 snat;
	__be16 snat_port = 0;
	__u16 ct_flags;
	__u64 now;
	__u32 id;
	int err;

	err = parse_ipv4(skb, &p);
	if (err == PARSE_ICMP)
		return handle_icmp(skb);
	if (err < 0)
		return TC_ACT_OK;
	if (PKT_FRAG_LATER(&p) && frag_ports(&p) < 0)
		return TC_ACT_OK;
	/* The coarse clock (last tick) is all the lifetimes need, and costs no clock-source read. */
	now = bpf_ktime_get_coarse_ns();

	/* One lookup, whichever direction: the entry says which it is. */
	ct_key_of(&key, &p);
	ct = bpf_map_lookup_elem(&conntrack, &key);
	if (ct && !ct_flow_live(&key, ct, now)) {
		/* Over (reset, or quiet past its lifetime): it captures nothing, not even a later
		 * flow on the same tuple (a direct pod-IP connection, a probe). */
		if (!(ct->flags & CT_F_REPLY))
			ct_delete_flow(&key, ct);
		ct = 0;
	}
	/* A later fragment follows its datagram's flow and never starts one. */
	if (PKT_FRAG_LATER(&p)) {
		if (!ct)
			return TC_ACT_OK;
		if (ct->flags & CT_F_REPLY)
			return counted(handle_reply(skb, &p, ct), STAT_REPLY);
		return counted(forward(skb, &p, ct->orig_addr, ct->orig_port, ct->nat_addr, ct->nat_port, ct->flags),
			       STAT_ESTABLISHED);
	}
	/* A first fragment of one of our flows: the rest of its datagram will need its ports
	 * (kept as it arrived, before the rewrite). Other traffic's fragments cost nothing. */
	if (ct && p.frag == PKT_FRAG_FIRST)
		frag_remember(&p);
	if (ct && (ct->flags & CT_F_REPLY)) {
		ct_touch(ct, &p, now);
		return counted(handle_reply(skb, &p, ct), STAT_REPLY);
	}
	if (ct) {
		be = ct_backend(ct);
		/* A SYN re-balances only when the old backend no longer takes new flows from
		 * any frontend (keeps SYN retransmits on one backend, moves reused tuples off
		 * terminating pods). */
		if (be && !(tcp_bare_syn(&p) && !(be->flags & (BE_F_ACTIVE | BE_F_ACTIVE_EXT)))) {
			ct_touch(ct, &p, now);
			return counted(forward(skb, &p, ct->orig_addr, ct->orig_port, ct->nat_addr, ct->nat_port, ct->flags),
				       STAT_ESTABLISHED);
		}
		/* Backend gone: a TCP segment of that flow can only be answered with a reset;
		 * UDP (and a fresh SYN) starts over as a new flow. */
		ct_delete_flow(&key, ct);
		if (!be && p.proto == IPPROTO_TCP && !tcp_bare_syn(&p))
			return answered(reject_tcp(skb, &p), STAT_RESET);
	}

	svc = lb_lookup_service(p.daddr, p.dport, p.proto);
	if (!svc)
		return TC_ACT_OK;
	/* 127.0.0.1:nodePort is for the node's own processes (socket LB). One arriving on an
	 * interface is spoofed: left to the kernel, which drops it as martian, never DNATed. */
	if (svc->flags & SVC_F_LOCALHOST)
		return TC_ACT_OK;
	/* loadBalancerSourceRanges, before anything answers: a source outside them learns
	 * nothing (no RST, no ICMP), as kube-proxy drops it. Tracked flows never get here, so
	 * a ranges change refuses new flows only. */
	if ((svc->flags & SVC_F_SRC_RANGE) && !lb_src_allowed(svc->svc_id, p.saddr))
		return drop(STAT_DROP_SRC_RANGE);
	if (svc->count == 0)
		return (svc->flags & SVC_F_DROP_EMPTY) ? drop(STAT_DROP_NO_LOCAL_EP) : answered(reject(skb, &p), STAT_REJECTED);
	/* Only a SYN opens a TCP flow. Any other segment to a frontend belongs to no live flow
	 * (its backend left, it is over, or it never existed): answered with a reset, as the
	 * backend would, and never given conntrack entries. */
	if (p.proto == IPPROTO_TCP && !tcp_bare_syn(&p))
		return answered(reject_tcp(skb, &p), STAT_RESET);

	flow.saddr = p.saddr;
	flow.daddr = p.daddr;
	flow.sport = p.sport;
	flow.dport = p.dport;
	flow.proto = p.proto;
	id = lb_select(p.daddr, p.dport, p.proto, svc, p.saddr, &flow, now);
	be = id ? lb_backend(id) : 0;
	if (!be)
		return drop(STAT_DROP_NO_BACKEND); /* transient: the client retransmits */

	snat = lb_snat_addr(svc, p.daddr, be, p.saddr);
	/* Both directions of every flow leave through the FIB, never through the stack: replies
	 * must (their VIP source would fail rp_filter), so forward packets must too, or netfilter
	 * conntrack sees half a flow, calls the client's ACKs INVALID, and any "ctstate INVALID
	 * drop" rule kills it. Without a route (a host-network backend) fib_redirect passes the
	 * packet up the stack as before. */
	ct_flags = CT_F_FIB;
	err = ct_create(&p, svc->svc_id, id, be, snat, ct_flags, now, &snat_port);
	if (err)
		return drop(err == CT_ERR_NO_PORT ? STAT_DROP_SNAT_PORTS : STAT_DROP_CT);
	if (p.frag == PKT_FRAG_FIRST)
		frag_remember(&p);
	return counted(forward(skb, &p, snat, snat_port, be->ip, be->port, ct_flags), STAT_NEW);
}

SEC("tc")
int TC_LB_PROG(struct __sk_buff *skb)
{
	return pkt_is_ipv6(skb) ? tc_lb6(skb) : tc_lb4(skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
