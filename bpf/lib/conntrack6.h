/* SPDX-License-Identifier: Apache-2.0 */
/* IPv6 conntrack (conntrack6): the twin of conntrack.h, same two entries per flow, same
 * lifetimes and TCP states (ct_advance), same SNAT port allocation by the reply entry. */
#ifndef BPFPROXY_CONNTRACK6_H
#define BPFPROXY_CONNTRACK6_H

#include "conntrack.h"
#include "parse6.h"

static __always_inline void ct6_key_of(struct ct6_key *k, const struct pkt6 *p)
{
	addr6_copy(k->saddr, p->saddr);
	addr6_copy(k->daddr, p->daddr);
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->pad0 = 0;
	k->pad1 = 0;
}

static __always_inline int tcp6_bare_syn(const struct pkt6 *p)
{
	return tcp_flags_bare_syn(p->proto, p->tcp_flags);
}

static __always_inline void ct6_touch(struct ct6_value *ct, const struct pkt6 *p, __u64 now)
{
	ct_advance(&ct->flags, &ct->expires, p->proto, p->tcp_flags, now);
}

static __always_inline int ct6_entry_live(const struct ct6_value *ct, __u64 now)
{
	return ct->expires > now && !(ct->flags & CT_F_DEAD);
}

/* The key of the other entry of this entry's flow (as ct_partner_key). */
static __always_inline void ct6_partner_key(struct ct6_key *o, const struct ct6_key *k, const struct ct6_value *v)
{
	int snat = !addr6_zero(v->orig_addr);

	o->proto = k->proto;
	o->pad0 = 0;
	o->pad1 = 0;
	if (v->flags & CT_F_REPLY) {
		addr6_copy(o->saddr, snat ? v->orig_addr : k->daddr);
		addr6_copy(o->daddr, v->nat_addr);
		o->sport = snat ? v->orig_port : k->dport;
		o->dport = v->nat_port;
	} else {
		addr6_copy(o->saddr, v->nat_addr);
		addr6_copy(o->daddr, snat ? v->orig_addr : k->saddr);
		o->sport = v->nat_port;
		o->dport = snat ? v->orig_port : k->sport;
	}
}

static __always_inline int ct6_key_eq(const struct ct6_key *a, const struct ct6_key *b)
{
	return addr6_eq(a->saddr, b->saddr) && addr6_eq(a->daddr, b->daddr) && a->sport == b->sport &&
	       a->dport == b->dport && a->proto == b->proto;
}

/* Not inlined: called from several places, each inlined copy would take its own stack. */
static __noinline struct ct6_value *ct6_partner(const struct ct6_key *k, const struct ct6_value *v, struct ct6_key *o)
{
	struct ct6_key back = {};
	struct ct6_value *other;

	ct6_partner_key(o, k, v);
	other = bpf_map_lookup_elem(&conntrack6, o);
	if (!other || (other->flags & CT_F_REPLY) == (v->flags & CT_F_REPLY) || other->svc_id != v->svc_id)
		return 0;
	ct6_partner_key(&back, o, other);
	return ct6_key_eq(&back, k) ? other : 0;
}

static __always_inline int ct6_flow_live(const struct ct6_key *k, const struct ct6_value *v, __u64 now, struct ct6_key *o)
{
	struct ct6_value *other;

	if (v->expires > now)
		return !(v->flags & CT_F_DEAD);
	if (v->flags & CT_F_DEAD)
		return 0;
	other = ct6_partner(k, v, o);
	return other && ct6_entry_live(other, now);
}

/* o: room for the partner's key (the caller's scratch, not this frame). */
static __always_inline int ct6_flow_over(const struct ct6_key *k, const struct ct6_value *v, __u64 now, struct ct6_key *o)
{
	struct ct6_value *other = ct6_partner(k, v, o);

	if ((v->flags & CT_F_DEAD) || (other && (other->flags & CT_F_DEAD)))
		return 1;
	return v->expires <= now && (!other || other->expires <= now);
}

static __always_inline struct backend6_value *ct6_backend(const struct ct6_value *ct)
{
	__u32 id = ct->backend_id;
	struct backend6_value *be = bpf_map_lookup_elem(&backends6, &id);

	if (!be || !addr6_eq(be->ip, ct->nat_addr) || be->port != ct->nat_port)
		return 0;
	return be;
}

/* ct6_create's keys and entry live in a per-CPU scratch slot, not on the stack: with 16-byte
 * addresses they would take a third of the 512 bytes the whole call chain may use. */
struct ct6_scratch {
	struct ct6_key fk;
	struct ct6_key rk;
	struct ct6_key tmp;
	struct ct6_value v;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct6_scratch);
} ct6_scratch SEC(".maps");

/* One port tried by ct6_insert_snat_reply (a bpf_loop() callback). */
struct snat6_try {
	struct ct6_scratch *s;
	__u64 now;
	__u32 min, span, start;
	int rc; /* 0: allocated (s->rk.dport); else CT_ERR_* */
};

static long ct6_snat_try(__u32 i, void *data)
{
	struct snat6_try *t = data;
	struct ct6_scratch *s = t->s;
	struct ct6_value *old;
	long err;

	s->rk.dport = bpf_htons((__u16)(t->min + (t->start + i) % t->span));
	old = bpf_map_lookup_elem(&conntrack6, &s->rk);
	if (old) {
		if (!ct6_flow_over(&s->rk, old, t->now, &s->tmp))
			return 0; /* taken by a live flow: the next port */
		if (ct6_partner(&s->rk, old, &s->tmp))
			bpf_map_delete_elem(&conntrack6, &s->tmp);
		bpf_map_delete_elem(&conntrack6, &s->rk);
	}
	err = bpf_map_update_elem(&conntrack6, &s->rk, &s->v, BPF_NOEXIST);
	if (err == 0 || err != -EEXIST) {
		t->rc = err == 0 ? 0 : CT_ERR_MAP;
		return 1;
	}
	return 0;
}

/* As ct_insert_snat_reply: the reply entry is the SNAT port's allocation. The tries run in
 * bpf_loop() (Linux 5.17+): its callback is verified once, where an open-coded loop of
 * BPFPROXY_SNAT_TRIES would be verified try by try, which tripled tc_lb's load time (and
 * under qemu TCG pushed a proxy's first sync past a minute). */
static __always_inline int ct6_insert_snat_reply(struct ct6_scratch *s, __be16 *port, __u64 now)
{
	struct snat6_try t = { .s = s, .now = now, .rc = CT_ERR_NO_PORT };
	__u32 n;

	snat_port_range(&t.min, &t.span);
	t.start = bpf_get_prandom_u32() % t.span;
	n = t.span < BPFPROXY_SNAT_TRIES ? t.span : BPFPROXY_SNAT_TRIES;
	if (bpf_loop(n, ct6_snat_try, &t, 0) < 0)
		return CT_ERR_MAP;
	if (t.rc == 0)
		*port = s->rk.dport;
	return t.rc;
}

/* Both directions of a new flow (its first packet p) to backend_id of frontend svc_id, as
 * ct_create; snat null = no SNAT. Returns the allocated SNAT source port (network order; 0
 * without SNAT) or a CT_ERR_*. A BPF function of its own (at most five arguments). */
static __noinline int ct6_create(const struct pkt6 *p, __u32 svc_id, __u32 backend_id,
				 const struct backend6_value *be, const __be32 *snat)
{
	__u32 zero = 0;
	struct ct6_scratch *s = bpf_map_lookup_elem(&ct6_scratch, &zero);
	__u64 now = bpf_ktime_get_coarse_ns();
	__u16 flags = CT_F_FIB | CT_F_TIMED | (snat ? CT_F_HAIRPIN : 0);
	__be16 port = 0;
	int err;

	if (!s)
		return CT_ERR_MAP;
	__builtin_memset(s, 0, sizeof(*s));
	/* The reply entry first (once the forward entry exists, replies may already flow). */
	addr6_copy(s->rk.saddr, be->ip);
	addr6_copy(s->rk.daddr, snat ? snat : p->saddr);
	s->rk.sport = be->port;
	s->rk.dport = p->sport;
	s->rk.proto = p->proto;
	s->v.expires = now + ct_lifetime_ns(p->proto, 0);
	s->v.backend_id = backend_id;
	s->v.svc_id = svc_id;
	addr6_copy(s->v.nat_addr, p->daddr);
	s->v.nat_port = p->dport;
	if (snat) {
		addr6_copy(s->v.orig_addr, p->saddr);
		s->v.orig_port = p->sport;
	}
	/* Replies always leave through the FIB (their source is the frontend). */
	s->v.flags = flags | CT_F_REPLY;
	if (snat) {
		err = ct6_insert_snat_reply(s, &port, now);
		if (err)
			return err;
	} else if (bpf_map_update_elem(&conntrack6, &s->rk, &s->v, BPF_ANY) < 0) {
		return CT_ERR_MAP;
	}

	/* The same value, turned into the forward entry. */
	ct6_key_of(&s->fk, p);
	addr6_copy(s->v.nat_addr, be->ip);
	s->v.nat_port = be->port;
	if (snat)
		addr6_copy(s->v.orig_addr, snat);
	s->v.orig_port = port;
	s->v.flags = flags;
	if (bpf_map_update_elem(&conntrack6, &s->fk, &s->v, BPF_ANY) < 0) {
		bpf_map_delete_elem(&conntrack6, &s->rk); /* gives the SNAT port back */
		return CT_ERR_MAP;
	}
	return port;
}

static __always_inline void ct6_delete_flow(const struct ct6_key *fk, const struct ct6_value *fwd, struct ct6_key *rk)
{
	if (ct6_partner(fk, fwd, rk))
		bpf_map_delete_elem(&conntrack6, rk);
	bpf_map_delete_elem(&conntrack6, fk);
}

#endif
