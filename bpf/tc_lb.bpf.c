/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tc ingress load balancer (every non-loopback interface of the node netns).
 *   reply of a tracked flow  → reverse NAT (source back to VIP:port, hairpin undone)
 *   tracked forward flow     → same backend while it exists (deleted: UDP re-picks, TCP RST)
 *   new flow to a frontend   → pick a backend (random / ClientIP affinity), track, DNAT
 *   frontend without backends→ TCP RST / ICMP port unreachable, sent back out at once
 *                              (dropped when a Local traffic policy left none on this node)
 *   SNAT of new flows          → hairpin, and external frontends to backends on other nodes;
 *                              the source port is allocated per flow (lib/conntrack.h)
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

static __always_inline int handle_reply(struct __sk_buff *skb, struct pkt4 *p, struct ct_value *ct, __u64 now)
{
	__u32 id = ct->svc_id;
	struct rev_nat_value *rn = bpf_map_lookup_elem(&rev_nat, &id);
	__be32 vip = ct->nat_addr;
	__be16 vport = ct->nat_port;
	__be32 client = ct->orig_addr;

	/* rev_nat is authoritative; the copy in the entry covers a frontend deleted mid-flow. */
	if (rn) {
		vip = rn->vip;
		vport = rn->port;
	}
	ct->last_seen = now;
	ct->flags |= CT_F_SEEN_REPLY;
	if (p->proto == IPPROTO_TCP)
		ct_mark_closing(ct, p->tcp_flags);
	if (nat_src(skb, p, vip, vport) < 0)
		return drop(STAT_DROP_NAT);
	/* orig_port 0: an entry from before per-flow SNAT ports, which kept the client's port. */
	if (client && nat_dst(skb, p, client, ct->orig_port ? ct->orig_port : p->dport) < 0)
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

/* The reply entry of a TCP flow learns of the client's FIN or RST too: it decides when the
 * flow's SNAT port is free again. A SYN on the same tuple opens it again. */
static __always_inline void fwd_mark_closing(const struct pkt4 *p, const struct ct_value *fwd)
{
	struct ct_key rk = {};
	struct ct_value *reply;

	if (p->proto != IPPROTO_TCP || !(p->tcp_flags & (PKT_TCP_FIN | PKT_TCP_RST | PKT_TCP_SYN)))
		return;
	ct_reply_key_of_fwd(&rk, p, fwd);
	reply = bpf_map_lookup_elem(&conntrack, &rk);
	if (!reply)
		return;
	if (p->tcp_flags & PKT_TCP_SYN)
		reply->flags &= ~(CT_F_CLOSING | CT_F_DEAD);
	else
		ct_mark_closing(reply, p->tcp_flags);
}

/* An RST / ICMP answer (reject.h) counted as `sent`, or as unanswered when none went out. */
static __always_inline int answered(int verdict, __u32 sent)
{
	if (verdict == TC_ACT_SHOT)
		return drop(STAT_DROP_UNANSWERED);
	stat_inc(sent);
	return verdict;
}

SEC("tc")
int tc_lb(struct __sk_buff *skb)
{
	struct pkt4 p = {};
	struct ct_key key = {};
	struct ct_value *ct;
	struct svc_value *svc;
	struct backend_value *be;
	__be32 snat;
	__be16 snat_port = 0;
	__u16 ct_flags;
	__u64 now;
	__u32 id;
	int err;

	if (parse_ipv4(skb, &p) < 0)
		return TC_ACT_OK;
	now = bpf_ktime_get_ns();

	ct_key_of(&key, &p, CT_DIR_REPLY);
	ct = bpf_map_lookup_elem(&conntrack, &key);
	if (ct)
		return counted(handle_reply(skb, &p, ct, now), STAT_REPLY);

	key.dir = CT_DIR_FORWARD;
	ct = bpf_map_lookup_elem(&conntrack, &key);
	if (ct) {
		be = ct_backend(ct);
		/* A SYN re-balances only when the old backend no longer takes new flows
		 * (keeps SYN retransmits on one backend, moves reused tuples off terminating pods). */
		if (be && !((p.tcp_flags & PKT_TCP_SYN) && !(p.tcp_flags & PKT_TCP_ACK) &&
			    !(be->flags & BE_F_ACTIVE))) {
			ct->last_seen = now;
			fwd_mark_closing(&p, ct);
			return counted(forward(skb, &p, ct->orig_addr, ct->orig_port, ct->nat_addr, ct->nat_port, ct->flags),
				       STAT_ESTABLISHED);
		}
		/* Backend gone: a TCP segment of that flow can only be answered with a reset;
		 * UDP (and a fresh SYN) starts over as a new flow. */
		if (!be && p.proto == IPPROTO_TCP && !((p.tcp_flags & PKT_TCP_SYN) && !(p.tcp_flags & PKT_TCP_ACK))) {
			ct_delete_flow(&p, ct);
			return answered(reject_tcp(skb, &p), STAT_RESET);
		}
		ct_delete_flow(&p, ct);
	}

	svc = lb_lookup_service(p.daddr, p.dport, p.proto);
	if (!svc)
		return TC_ACT_OK;
	if (svc->count == 0)
		return (svc->flags & SVC_F_DROP_EMPTY) ? drop(STAT_DROP_NO_LOCAL_EP) : answered(reject(skb, &p), STAT_REJECTED);

	id = lb_select(p.daddr, p.dport, p.proto, svc, p.saddr, now);
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
	return counted(forward(skb, &p, snat, snat_port, be->ip, be->port, ct_flags), STAT_NEW);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
