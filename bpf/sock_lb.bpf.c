/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Socket-level LB for clients in the node netns (cgroup v2 sock_addr hooks): translate the
 * frontend to a backend at connect()/sendmsg() time, so those packets never need NAT, and
 * translate the peer back to the frontend at recvmsg()/getpeername() (what the application
 * connected to, not the backend, is what getpeername() reports).
 * Only this hook serves 127.0.0.1:nodePort (SVC_F_LOCALHOST frontends, kube-proxy's localhost
 * NodePorts): like a ClusterIP, the connection goes straight to a backend, so no
 * route_localnet is needed and no packet with a loopback destination ever leaves the node.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "lib/maps.h"
#include "lib/lb.h"

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

static __always_inline int translate(struct bpf_sock_addr *ctx)
{
	__u8 proto = sock_proto(ctx);
	__be32 vip = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	struct sock_rev_key rk = {};
	struct sock_rev_value rv = {};
	struct backend_value *be;
	struct svc_value *svc;
	__u32 id;
	long err;

	if (!proto || !sock_in_scope(ctx))
		return SOCK_PASS;
	svc = lb_lookup_service(vip, port, proto);
	if (!svc)
		return SOCK_PASS;
	if ((svc->flags & SVC_F_SRC_RANGE) && !sock_src_allowed(ctx, svc)) {
		bpf_set_retval(-EPERM);
		return 0;
	}
	if (svc->count == 0) {
		/* No endpoints: fail the syscall at once with ECONNREFUSED (not EPERM). */
		bpf_set_retval(-ECONNREFUSED);
		return 0;
	}
	/* The node is one client for ClientIP affinity (its source address is not known yet).
	 * No 5-tuple either (the source port comes later): Maglev frontends pick at random here. */
	id = lb_select(vip, port, proto, svc, 0, 0, bpf_ktime_get_coarse_ns());
	be = id ? lb_backend(id) : 0;
	if (!be)
		return SOCK_PASS;

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
		return 0;
	}

	ctx->user_ip4 = be->ip;
	ctx->user_port = (__u32)be->port;
	return SOCK_PASS;
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

char LICENSE[] SEC("license") = "Dual BSD/GPL";
