/* SPDX-License-Identifier: Apache-2.0 */
/*
 * XDP fast path on the node's external interface(s), in front of tc_lb, for north-south
 * traffic: NodePorts, external IPs and LoadBalancer IPs (SVC_F_EXTERNAL frontends), IPv4
 * TCP/UDP. It reads the same pinned maps as tc_lb and writes its flows into the same
 * conntrack map, entry for entry as tc_lb would (lib/conntrack.h), so tc_lb reverse-NATs the
 * replies and carries on any packet of the flow that XDP passes.
 *
 *   tracked forward flow, backend there   → rewritten as tc_lb would, sent on (TX / redirect)
 *   new flow (UDP datagram or bare SYN)   → backend picked (affinity, Maglev, random),
 *                                           tracked, DNAT (+ SNAT), sent on
 *   LB IP source outside its ranges       → dropped, counted (tc_lb would drop it too)
 *   everything else                       → XDP_PASS, untouched: tc_lb does what it does today
 *     (IPv6, VLAN, IP options, fragments, ICMP, replies, ClusterIPs, no frontend, no
 *     endpoints or none local (reject / drop), TCP segments of no flow (RST), a backend gone,
 *     and any packet the FIB cannot place: no route, neighbour unresolved, MTU, TTL)
 *
 * Same kind of path both ways (DESIGN.md): tc_lb sends both directions of every flow on
 * through the FIB (bpf_redirect_neigh, CT_F_FIB on both entries), never through netfilter.
 * XDP's forward packets skip netfilter as well (redirected), and their replies reach
 * tc_lb on the backend's interface as before (CT_F_FIB reply entry → redirected), so
 * netfilter conntrack sees neither half of an XDP flow. A packet XDP passes takes tc_lb's
 * forward path, which is the same redirect: a flow may switch between XDP and tc packet by
 * packet without ever entering netfilter. The FIB is asked before anything is written, so a
 * passed packet leaves no trace (no conntrack entry, no SNAT port) for tc_lb to trip over.
 *
 * Redirect targets: bpf_redirect() to the FIB's interface: a local pod's veth, or the
 * external interface itself for a backend on another node (see xdp_send: not XDP_TX).
 * A native redirect into a veth needs the veth's peer (the pod's end) to run NAPI: an XDP
 * program or GRO on there (`ethtool -K eth0 gro on` in the pod); otherwise the kernel drops
 * the frame (README, XDP).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lib/maps.h"
#include "lib/conntrack.h"
#include "lib/lb.h"
#include "lib/stats.h"
#include "lib/xdp_pkt.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* The FIB's next hop for the rewritten packet, with MACs: 0 when it can be sent on from XDP. */
static __always_inline int xdp_fib(struct xdp_md *ctx, const struct pkt4 *p, __be32 saddr, __be32 daddr,
				   __be16 dport, struct bpf_fib_lookup *fib)
{
	fib->family = AF_INET;
	fib->l4_protocol = p->proto;
	fib->sport = p->sport;
	fib->dport = dport;
	/* The frame as it is (XDP frames are never GSO): too big for the egress MTU comes back
	 * FRAG_NEEDED, and the stack sends the ICMP. */
	fib->tot_len = p->l4_len + sizeof(struct iphdr);
	fib->ipv4_src = saddr;
	fib->ipv4_dst = daddr;
	fib->ifindex = ctx->ingress_ifindex;
	/* No SKIP_NEIGH: the MACs are needed, and an unresolved neighbour is tc_lb's to resolve
	 * (bpf_redirect_neigh); once it is, the flow's next packets stay here. */
	if (bpf_fib_lookup(ctx, fib, sizeof(*fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return -1;
	/* Into another interface (a local pod's veth) only where the operator says its peers run
	 * NAPI (xdp_cfg, abi.h): otherwise the kernel would drop the frame. */
	if (fib->ifindex != ctx->ingress_ifindex) {
		__u32 zero = 0;
		struct xdp_config *cfg = bpf_map_lookup_elem(&xdp_cfg, &zero);

		if (!cfg || !(cfg->flags & XDP_CFG_F_LOCAL_REDIRECT))
			return -1;
	}
	return 0;
}

/* Out of the FIB's interface. Back out of the interface it came in by (a backend on another
 * node) is a redirect to that interface rather than XDP_TX: veth's XDP_TX queues the frame on
 * its peer but wakes the peer's NAPI only when the peer runs an XDP program itself (not when
 * it has NAPI through GRO), so the frame would wait for unrelated traffic; a redirect's flush
 * wakes it on every driver, and any driver running native XDP takes redirects to itself. */
static __always_inline int xdp_send(const struct bpf_fib_lookup *fib, __u32 path)
{
	stat_inc(path);
	return bpf_redirect(fib->ifindex, 0);
}

/* Counts the reason and drops the frame (tc_lb's drop() answers TC_ACT_SHOT). */
static __always_inline int xdp_drop(__u32 reason)
{
	stat_inc(reason);
	return XDP_DROP;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	struct pkt4 p = {};
	struct xdp_hdrs h = {};
	struct ct_key key = {};
	struct ct_value *ct;
	struct svc_value *svc;
	struct backend_value *be;
	struct bpf_fib_lookup fib = {};
	struct lb_flow flow = {};
	__be32 snat;
	__be16 snat_port = 0;
	__u64 now;
	__u32 id;
	int err;

	if (xdp_parse(ctx, &p, &h) < 0 || h.ip->ttl <= 1)
		return XDP_PASS;
	now = bpf_ktime_get_coarse_ns();

	ct_key_of(&key, &p);
	ct = bpf_map_lookup_elem(&conntrack, &key);
	if (ct) {
		/* Replies, flows that are over and flows whose backend left (reset, re-pick) are
		 * tc_lb's: it deletes and answers as today. */
		if ((ct->flags & CT_F_REPLY) || !ct_flow_live(&key, ct, now))
			return XDP_PASS;
		be = ct_backend(ct);
		if (!be || (tcp_bare_syn(&p) && !(be->flags & (BE_F_ACTIVE | BE_F_ACTIVE_EXT))))
			return XDP_PASS;
		if (xdp_fib(ctx, &p, ct->orig_addr ? ct->orig_addr : p.saddr, ct->nat_addr, ct->nat_port, &fib) < 0)
			return XDP_PASS;
		ct_touch(ct, &p, now);
		xdp_rewrite(&h, &p, ct->orig_addr, ct->orig_addr ? ct->orig_port : 0, ct->nat_addr, ct->nat_port, &fib);
		return xdp_send(&fib, STAT_XDP_ESTABLISHED);
	}

	svc = lb_lookup_service(p.daddr, p.dport, p.proto);
	/* North-south only: ClusterIPs (and 127.0.0.1 NodePorts) stay tc_lb's / the socket LB's. */
	if (!svc || !(svc->flags & SVC_F_EXTERNAL) || (svc->flags & SVC_F_LOCALHOST))
		return XDP_PASS;
	if ((svc->flags & SVC_F_SRC_RANGE) && !lb_src_allowed(svc->svc_id, p.saddr))
		return xdp_drop(STAT_DROP_SRC_RANGE);
	/* No endpoints (reject) or none local (drop) and non-SYN segments (RST): as today. */
	if (svc->count == 0 || (p.proto == IPPROTO_TCP && !tcp_bare_syn(&p)))
		return XDP_PASS;

	flow.saddr = p.saddr;
	flow.daddr = p.daddr;
	flow.sport = p.sport;
	flow.dport = p.dport;
	flow.proto = p.proto;
	id = lb_select(p.daddr, p.dport, p.proto, svc, p.saddr, &flow, now);
	be = id ? lb_backend(id) : 0;
	if (!be)
		return XDP_PASS;
	snat = lb_snat_addr(svc, p.daddr, be, p.saddr);
	if (xdp_fib(ctx, &p, snat ? snat : p.saddr, be->ip, be->port, &fib) < 0)
		return XDP_PASS;
	err = ct_create(&p, svc->svc_id, id, be, snat, CT_F_FIB, now, &snat_port);
	if (err)
		return xdp_drop(err == CT_ERR_NO_PORT ? STAT_DROP_SNAT_PORTS : STAT_DROP_CT);
	xdp_rewrite(&h, &p, snat, snat ? snat_port : 0, be->ip, be->port, &fib);
	return xdp_send(&fib, STAT_XDP_NEW);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
