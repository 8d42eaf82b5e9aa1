/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket-level LB for clients in the node netns (cgroup v2 sock_addr hooks): translate the
 * frontend to a backend at connect()/sendmsg() time, so those packets never need NAT, and
 * translate the peer back to the frontend at recvmsg()/getpeername() (what the application
 * connected to, not the backend, is what getpeername() reports).
 * Only this hook serves 127.0.0.1:nodePort (SVC_F_LOCALHOST frontends, kube-proxy's localhost
 * NodePorts): like a ClusterIP, the connection goes straight to a backend, so no
 * route_localnet is needed and no packet with a loopback destination ever leaves the node.
 * IPv6 hooks (connect6/sendmsg6/recvmsg6/getpeername6) do the same over services6 and
 * sock_rev6; an IPv4-mapped address (::ffff:a.b.c.d) on a dual-stack socket goes through the
 * IPv4 maps.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "lib/maps.h"
#include "lib/lb.h"
#include "lib/lb6.h"

#define SOCK_PASS 1
#define EPERM 1
#define ECONNREFUSED 111

/*
 * loadBalancerSourceRanges for the node's own connections to an LB IP. kube-proxy (iptables)
 * checks them against the source the kernel picks, and also lets the node in when a range
 * holds the node's IP. Here connect()/sendmsg() run before routing picks a source, so the
 * hook checks the address the socket is bound to, else the node's primary address
 * (lb_config.node_addr): the source such a connection normally leaves with. Outside the
 * ranges the call fails with EPERM, what a firewall drop of a local packet gives the caller;
 * passing it untranslated instead would send it to the LB IP, past every range check
 * (tc_lb sees ingress only). Unknown node address: refused (fail closed).
 */
static __always_inline int sock_src_allowed(struct bpf_sock_addr *ctx, const struct svc_value *svc)
{
	struct bpf_sock *sk = ctx->sk;
	__u32 zero = 0;
	struct lb_config *cfg;
	__be32 src = 0;

	if (sk)
		src = sk->src_ip4;
	if (!src) {
		cfg = bpf_map_lookup_elem(&lb_config, &zero);
		src = cfg ? cfg->node_addr : 0;
	}
	return src && lb_src_allowed(svc->svc_id, src);
}

/*
 * --socket-lb-host-netns-only: the hooks sit on a cgroup, and a cgroup also holds processes of
 * other network namespaces (pods, sidecars, VMs). With a netns cookie configured, only sockets
 * of that namespace (the node's) are translated; the others are left to reach the VIP as
 * packets, where tc_lb (or a mesh sidecar that wants to see the VIP) handles them.
 */
static __always_inline int sock_in_scope(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0;
	struct sock_lb_config *cfg = bpf_map_lookup_elem(&sock_lb_cfg, &zero);

	return !cfg || !cfg->netns_cookie || bpf_get_netns_cookie(ctx) == cfg->netns_cookie;
}

static __always_inline __u8 sock_proto(struct bpf_sock_addr *ctx)
{
	__u32 proto = ctx->protocol;

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP)
		return proto;
	return 0;
}

/* What a pick did: nothing (not a frontend, pass the call unchanged), a backend chosen (its
 * address and port out), or the call refused (its return value set). */
#define PICK_NONE  0
#define PICK_XLATE 1
#define PICK_DENY  2

/* connect()/sendmsg() to an IPv4 frontend vip:port (also from an IPv6 socket, as ::ffff:vip). */
static __always_inline int pick4(struct bpf_sock_addr *ctx, __u8 proto, __be32 vip, __be16 port, __be32 *ip, __be16 *bport)
{
	struct sock_rev_key rk = {};
	struct sock_rev_value rv = {};
	struct backend_value *be;
	struct svc_value *svc;
	__u32 id;
	long err;

	svc = lb_lookup_service(vip, port, proto);
	if (!svc)
		return PICK_NONE;
	if ((svc->flags & SVC_F_SRC_RANGE) && !sock_src_allowed(ctx, svc)) {
		bpf_set_retval(-EPERM);
		return PICK_DENY;
	}
	if (svc->count == 0) {
		/* No endpoints: fail the syscall at once with ECONNREFUSED (not EPERM). */
		bpf_set_retval(-ECONNREFUSED);
		return PICK_DENY;
	}
	/* The node is one client for ClientIP affinity (its source address is not known yet).
	 * No 5-tuple either (the source port comes later): Maglev frontends pick at random here. */
	id = lb_select(vip, port, proto, svc, 0, 0, bpf_ktime_get_coarse_ns());
	be = id ? lb_backend(id) : 0;
	if (!be)
		return PICK_NONE;

	rk.cookie = bpf_get_socket_cookie(ctx);
	rk.addr = be->ip;
	rk.port = be->port;
	rv.vip = vip;
	rv.port = port;
	rv.svc_id = svc->svc_id;
	err = bpf_map_update_elem(&sock_rev, &rk, &rv, BPF_ANY);
	if (err && proto == IPPROTO_UDP) {
		/* Replies could not be translated back to the frontend, and a connected UDP
		 * socket would drop them: fail the call with the map's error instead. (TCP only
		 * loses the getpeername() translation.) The map is an LRU: this is an
		 * allocation failure, not a full map. */
		bpf_set_retval(err);
		return PICK_DENY;
	}
	*ip = be->ip;
	*bport = be->port;
	return PICK_XLATE;
}

/* The same for an IPv6 frontend (services6, sock_rev6). loadBalancerSourceRanges are never
 * set on IPv6 frontends (render.ts does not serve those): nothing to check here. */
static __always_inline int pick6(struct bpf_sock_addr *ctx, __u8 proto, const __be32 *vip, __be16 port, __be32 *ip, __be16 *bport)
{
	struct sock_rev6_key rk = {};
	struct sock_rev6_value rv = {};
	struct backend6_value *be;
	struct svc_value *svc;
	__be32 node[4] = {};
	__u32 id;
	long err;

	svc = lb6_lookup_service(vip, port, proto);
	if (!svc || (svc->flags & SVC_F_SRC_RANGE))
		return PICK_NONE;
	if (svc->count == 0) {
		bpf_set_retval(-ECONNREFUSED);
		return PICK_DENY;
	}
	id = lb6_select(vip, port, proto, svc, node, 0, bpf_ktime_get_coarse_ns());
	be = id ? lb6_backend(id) : 0;
	if (!be)
		return PICK_NONE;

	rk.cookie = bpf_get_socket_cookie(ctx);
	addr6_copy(rk.addr, be->ip);
	rk.port = be->port;
	addr6_copy(rv.vip, vip);
	rv.port = port;
	rv.svc_id = svc->svc_id;
	err = bpf_map_update_elem(&sock_rev6, &rk, &rv, BPF_ANY);
	if (err && proto == IPPROTO_UDP) {
		bpf_set_retval(err);
		return PICK_DENY;
	}
	addr6_copy(ip, be->ip);
	*bport = be->port;
	return PICK_XLATE;
}

static __always_inline int translate(struct bpf_sock_addr *ctx)
{
	__u8 proto = sock_proto(ctx);
	__be32 ip = 0;
	__be16 port = 0;
	int r;

	if (!proto || !sock_in_scope(ctx))
		return SOCK_PASS;
	r = pick4(ctx, proto, ctx->user_ip4, (__be16)ctx->user_port, &ip, &port);
	if (r == PICK_XLATE) {
		ctx->user_ip4 = ip;
		ctx->user_port = (__u32)port;
	}
	return r == PICK_DENY ? 0 : SOCK_PASS;
}

static __always_inline int untranslate(struct bpf_sock_addr *ctx)
{
	struct sock_rev_key rk = {};
	struct sock_rev_value *rv;

	rk.cookie = bpf_get_socket_cookie(ctx);
	rk.addr = ctx->user_ip4;
	rk.port = (__be16)ctx->user_port;
	rv = bpf_map_lookup_elem(&sock_rev, &rk);
	if (rv) {
		ctx->user_ip4 = rv->vip;
		ctx->user_port = (__u32)rv->port;
	}
	return SOCK_PASS;
}

/* An IPv4 address in an IPv6 socket's sockaddr (::ffff:a.b.c.d, RFC 4291 2.5.5.2): a
 * dual-stack socket talking to an IPv4 frontend, translated through the IPv4 maps. */
static __always_inline int v4_mapped(const __be32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

/* The user_ip6 words are read and written one 4-byte word at a time (the verifier's rule). */
static __always_inline void load_ip6(struct bpf_sock_addr *ctx, __be32 *a)
{
	a[0] = ctx->user_ip6[0];
	a[1] = ctx->user_ip6[1];
	a[2] = ctx->user_ip6[2];
	a[3] = ctx->user_ip6[3];
}

static __always_inline void store_ip6(struct bpf_sock_addr *ctx, const __be32 *a)
{
	ctx->user_ip6[0] = a[0];
	ctx->user_ip6[1] = a[1];
	ctx->user_ip6[2] = a[2];
	ctx->user_ip6[3] = a[3];
}

static __always_inline int translate6(struct bpf_sock_addr *ctx)
{
	__u8 proto = sock_proto(ctx);
	__be16 vport = (__be16)ctx->user_port;
	__be32 vip[4], ip[4] = {};
	__be16 port = 0;
	int r;

	if (!proto || !sock_in_scope(ctx))
		return SOCK_PASS;
	load_ip6(ctx, vip);
	if (v4_mapped(vip)) {
		r = pick4(ctx, proto, vip[3], vport, &ip[3], &port);
		if (r == PICK_XLATE)
			ctx->user_ip6[3] = ip[3];
	} else {
		r = pick6(ctx, proto, vip, vport, ip, &port);
		if (r == PICK_XLATE)
			store_ip6(ctx, ip);
	}
	if (r == PICK_XLATE)
		ctx->user_port = (__u32)port;
	return r == PICK_DENY ? 0 : SOCK_PASS;
}

static __always_inline int untranslate6(struct bpf_sock_addr *ctx)
{
	__be32 a[4];

	load_ip6(ctx, a);
	if (v4_mapped(a)) {
		struct sock_rev_key rk = {};
		struct sock_rev_value *rv;

		rk.cookie = bpf_get_socket_cookie(ctx);
		rk.addr = a[3];
		rk.port = (__be16)ctx->user_port;
		rv = bpf_map_lookup_elem(&sock_rev, &rk);
		if (rv) {
			ctx->user_ip6[3] = rv->vip;
			ctx->user_port = (__u32)rv->port;
		}
	} else {
		struct sock_rev6_key rk = {};
		struct sock_rev6_value *rv;

		rk.cookie = bpf_get_socket_cookie(ctx);
		addr6_copy(rk.addr, a);
		rk.port = (__be16)ctx->user_port;
		rv = bpf_map_lookup_elem(&sock_rev6, &rk);
		if (rv) {
			store_ip6(ctx, rv->vip);
			ctx->user_port = (__u32)rv->port;
		}
	}
	return SOCK_PASS;
}

SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	return translate(ctx);
}

SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return translate(ctx);
}

SEC("cgroup/recvmsg4")
int sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	return untranslate(ctx);
}

SEC("cgroup/getpeername4")
int sock_getpeername4(struct bpf_sock_addr *ctx)
{
	return untranslate(ctx);
}

SEC("cgroup/connect6")
int sock_connect6(struct bpf_sock_addr *ctx)
{
	return translate6(ctx);
}

SEC("cgroup/sendmsg6")
int sock_sendmsg6(struct bpf_sock_addr *ctx)
{
	return translate6(ctx);
}

SEC("cgroup/recvmsg6")
int sock_recvmsg6(struct bpf_sock_addr *ctx)
{
	return untranslate6(ctx);
}

SEC("cgroup/getpeername6")
int sock_getpeername6(struct bpf_sock_addr *ctx)
{
	return untranslate6(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
