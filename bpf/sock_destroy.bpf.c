/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Closes the sockets the socket LB connected to a backend that has since been removed, so
 * their applications see an error and connect again (to a live backend), instead of talking
 * to a deleted pod for as long as the socket lives (connected UDP never notices on its own).
 *
 * Socket iterators (iter/tcp, iter/udp; an IPv4 and an IPv6 one of each), run by the controller after a sync removed
 * backends (src/backends/ebpf/sock-destroy.ts): a socket is destroyed when its peer is in
 * sock_gone for the frontend its sock_rev entry names, i.e. the socket LB translated it.
 * bpf_sock_destroy() is a kfunc of kernel 6.5+ (iterator programs only): this object is
 * loaded on its own, so that on older kernels it alone fails to load and the controller falls
 * back to netlink SOCK_DESTROY, while tc_lb and sock_lb load as always.
 *
 * No vmlinux.h: the few kernel types read here are declared with preserve_access_index, so
 * libbpf relocates every field access against the running kernel's BTF (CO-RE).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/sock_maps.h"

#define AF_INET 2
#define AF_INET6 10

struct seq_file;
struct tcp_sock;

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct inet_sock {
	struct sock sk;
} __attribute__((preserve_access_index));

struct udp_sock {
	struct inet_sock inet;
} __attribute__((preserve_access_index));

struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
} __attribute__((preserve_access_index));

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_SOCK_GONE_MAX);
	__type(key, struct sock_gone_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sock_gone SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_SOCK_GONE_MAX);
	__type(key, struct sock_gone6_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} sock_gone6 SEC(".maps");

/* Destroys sk when the socket LB connected it to a backend now in sock_gone, and reports it. */
static __always_inline int destroy_if_gone(struct seq_file *seq, struct sock_common *sk, __u8 proto)
{
	struct sock_rev_key rk = {};
	struct sock_rev_value *rv;
	struct sock_gone_key gk = {};
	struct sock_destroyed out = {};

	if (sk->skc_family != AF_INET || !sk->skc_daddr)
		return 0; /* not IPv4, or UDP not connected (sendmsg() translated it per datagram) */
	gk.addr = sk->skc_daddr;
	gk.port = sk->skc_dport;
	gk.proto = proto;
	rk.cookie = bpf_get_socket_cookie(sk);
	rk.addr = gk.addr;
	rk.port = gk.port;
	rv = bpf_map_lookup_elem(&sock_rev, &rk);
	if (!rv)
		return 0; /* connected to that address directly, not through a Service */
	gk.svc_id = rv->svc_id;
	if (!bpf_map_lookup_elem(&sock_gone, &gk))
		return 0;
	out.cookie = rk.cookie;
	out.addr = gk.addr;
	out.port = gk.port;
	out.proto = proto;
	out.svc_id = gk.svc_id;
	out.err = bpf_sock_destroy(sk);
	bpf_seq_write(seq, &out, sizeof(out));
	return 0;
}

/* The IPv6 twin: an IPv6 socket whose peer is a gone backend of the frontend its sock_rev6
 * entry names (an IPv4-mapped peer: of its sock_rev entry, in sock_gone). */
static __always_inline int destroy6_if_gone(struct seq_file *seq, struct sock_common *sk, __u8 proto)
{
	struct sock_rev6_key rk = {};
	struct sock_rev6_value *rv;
	struct sock_gone6_key gk = {};
	struct sock_destroyed6 out = {};
	__be32 a0, a1, a2, a3;

	if (sk->skc_family != AF_INET6)
		return 0;
	a0 = sk->skc_v6_daddr.in6_u.u6_addr32[0];
	a1 = sk->skc_v6_daddr.in6_u.u6_addr32[1];
	a2 = sk->skc_v6_daddr.in6_u.u6_addr32[2];
	a3 = sk->skc_v6_daddr.in6_u.u6_addr32[3];
	if (!(a0 | a1 | a2 | a3))
		return 0; /* UDP not connected */
	if (!a0 && !a1 && a2 == bpf_htonl(0xffff)) {
		/* A dual-stack socket connected to an IPv4 backend (::ffff:a.b.c.d): the socket LB
		 * recorded it in the IPv4 maps. */
		struct sock_rev_key rk4 = {};
		struct sock_rev_value *rv4;
		struct sock_gone_key gk4 = {};

		rk4.cookie = bpf_get_socket_cookie(sk);
		rk4.addr = a3;
		rk4.port = sk->skc_dport;
		rv4 = bpf_map_lookup_elem(&sock_rev, &rk4);
		if (!rv4)
			return 0;
		gk4.addr = a3;
		gk4.port = rk4.port;
		gk4.proto = proto;
		gk4.svc_id = rv4->svc_id;
		if (!bpf_map_lookup_elem(&sock_gone, &gk4))
			return 0;
		out.cookie = rk4.cookie;
		out.addr[2] = a2;
		out.addr[3] = a3;
		out.port = rk4.port;
		out.proto = proto;
		out.svc_id = gk4.svc_id;
		out.err = bpf_sock_destroy(sk);
		bpf_seq_write(seq, &out, sizeof(out));
		return 0;
	}
	gk.addr[0] = a0;
	gk.addr[1] = a1;
	gk.addr[2] = a2;
	gk.addr[3] = a3;
	gk.port = sk->skc_dport;
	gk.proto = proto;
	rk.cookie = bpf_get_socket_cookie(sk);
	__builtin_memcpy(rk.addr, gk.addr, sizeof(rk.addr));
	rk.port = gk.port;
	rv = bpf_map_lookup_elem(&sock_rev6, &rk);
	if (!rv)
		return 0;
	gk.svc_id = rv->svc_id;
	if (!bpf_map_lookup_elem(&sock_gone6, &gk))
		return 0;
	out.cookie = rk.cookie;
	__builtin_memcpy(out.addr, gk.addr, sizeof(out.addr));
	out.port = gk.port;
	out.proto = proto;
	out.svc_id = gk.svc_id;
	out.err = bpf_sock_destroy(sk);
	bpf_seq_write(seq, &out, sizeof(out));
	return 0;
}

SEC("iter/tcp")
int sock_destroy_tcp6(struct bpf_iter__tcp *ctx)
{
	struct sock_common *sk = ctx->sk_common;

	if (!sk || !bpf_skc_to_tcp_sock(sk))
		return 0;
	return destroy6_if_gone(ctx->meta->seq, sk, BPFPROXY_PROTO_TCP);
}

SEC("iter/udp")
int sock_destroy_udp6(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;

	if (!udp)
		return 0;
	return destroy6_if_gone(ctx->meta->seq, (struct sock_common *)udp, BPFPROXY_PROTO_UDP);
}

SEC("iter/tcp")
int sock_destroy_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *sk = ctx->sk_common;

	/* Full sockets only: a TIME_WAIT or request socket has nothing left to tell an application. */
	if (!sk || !bpf_skc_to_tcp_sock(sk))
		return 0;
	return destroy_if_gone(ctx->meta->seq, sk, BPFPROXY_PROTO_TCP);
}

SEC("iter/udp")
int sock_destroy_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;

	if (!udp)
		return 0;
	return destroy_if_gone(ctx->meta->seq, (struct sock_common *)udp, BPFPROXY_PROTO_UDP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
