/* SPDX-License-Identifier: Apache-2.0 */
/* Conntrack in an LRU hash: a forward entry (client → frontend, before DNAT) and a reply entry
 * (backend → client or SNAT address, before reverse NAT) per flow, told apart by CT_F_REPLY.
 * Each entry keeps its direction's TCP state and an expiry; a flow lives while either entry
 * does and no RST went through. Entries are created only for a TCP SYN or a first datagram;
 * the controller deletes flows that are over (src/backends/ebpf/conntrack-gc.ts). */
#ifndef BPFPROXY_CONNTRACK_H
#define BPFPROXY_CONNTRACK_H

#include <asm-generic/errno-base.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "parse.h"

#define CT_ERR_MAP     (-1) /* a conntrack write failed (map error) */
#define CT_ERR_NO_PORT (-2) /* every SNAT port tried is taken towards this backend */

#define NSEC_PER_SEC_ULL 1000000000ULL

static __always_inline void ct_key_of(struct ct_key *k, const struct pkt4 *p)
{
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->pad0 = 0;
	k->pad1 = 0;
}

/* A bare SYN (no ACK): the only TCP segment that may open a flow. */
static __always_inline int tcp_flags_bare_syn(__u8 proto, __u8 tcp_flags)
{
	return proto == IPPROTO_TCP && (tcp_flags & (PKT_TCP_SYN | PKT_TCP_ACK)) == PKT_TCP_SYN;
}

static __always_inline int tcp_bare_syn(const struct pkt4 *p)
{
	return tcp_flags_bare_syn(p->proto, p->tcp_flags);
}

/* How long an entry in this state lives without another packet of its direction. */
static __always_inline __u64 ct_lifetime_ns(__u8 proto, __u16 flags)
{
	if (proto != IPPROTO_TCP)
		return BPFPROXY_CT_UDP_TIMEOUT_S * NSEC_PER_SEC_ULL;
	if (flags & CT_F_DEAD)
		return 0;
	if (flags & CT_F_CLOSING)
		return BPFPROXY_CT_CLOSE_TIMEOUT_S * NSEC_PER_SEC_ULL;
	if (flags & CT_F_ESTABLISHED)
		return BPFPROXY_CT_TCP_TIMEOUT_S * NSEC_PER_SEC_ULL;
	return BPFPROXY_CT_SYN_TIMEOUT_S * NSEC_PER_SEC_ULL;
}

/* A packet went through an entry (its flags and expiry, of either family): advance its
 * direction's TCP state and renew it. The entry is written only when its state changes or its
 * expiry moves by more than CT_RENEW_NS, so an established flow does not dirty its entry on
 * every packet. */
static __always_inline void ct_advance(__u16 *flags_io, __u64 *expires_io, __u8 proto, __u8 f, __u64 now)
{
	__u16 flags = *flags_io;
	__u64 expires;

	if (proto == IPPROTO_TCP) {
		if (f & PKT_TCP_RST)
			flags |= CT_F_DEAD;
		else if (f & PKT_TCP_SYN) /* a new handshake on the tuple (SYN, or the SYN-ACK) */
			flags &= ~(CT_F_DEAD | CT_F_CLOSING | CT_F_ESTABLISHED);
		else if (f & PKT_TCP_FIN)
			flags |= CT_F_CLOSING | CT_F_ESTABLISHED;
		else
			flags |= CT_F_ESTABLISHED;
	}
	expires = now + ct_lifetime_ns(proto, flags);
	if (flags != *flags_io) {
		*flags_io = flags;
		*expires_io = expires;
	} else if (expires > *expires_io + BPFPROXY_CT_RENEW_NS) {
		*expires_io = expires;
	}
}

static __always_inline void ct_touch(struct ct_value *ct, const struct pkt4 *p, __u64 now)
{
	ct_advance(&ct->flags, &ct->expires, p->proto, p->tcp_flags, now);
}

static __always_inline int ct_entry_live(const struct ct_value *ct, __u64 now)
{
	return ct->expires > now && !(ct->flags & CT_F_DEAD);
}

/* The key of the other entry of this entry's flow. */
static __always_inline void ct_partner_key(struct ct_key *o, const struct ct_key *k, const struct ct_value *v)
{
	o->proto = k->proto;
	o->pad0 = 0;
	o->pad1 = 0;
	if (v->flags & CT_F_REPLY) {
		/* forward: client (restored after SNAT) → frontend */
		o->saddr = v->orig_addr ? v->orig_addr : k->daddr;
		o->daddr = v->nat_addr;
		o->sport = v->orig_addr ? v->orig_port : k->dport;
		o->dport = v->nat_port;
	} else {
		/* reply: backend → client, or → the SNAT address and port */
		o->saddr = v->nat_addr;
		o->daddr = v->orig_addr ? v->orig_addr : k->saddr;
		o->sport = v->nat_port;
		o->dport = (v->orig_addr && v->orig_port) ? v->orig_port : k->sport;
	}
}

static __always_inline int ct_key_eq(const struct ct_key *a, const struct ct_key *b)
{
	return a->saddr == b->saddr && a->daddr == b->daddr && a->sport == b->sport && a->dport == b->dport &&
	       a->proto == b->proto;
}

/* The other entry of entry v's flow (its key goes to *o), or 0 when that key is missing or
 * now belongs to another flow (a tuple reused, a SNAT port taken back): the two must point
 * at each other. */
static __always_inline struct ct_value *ct_partner(const struct ct_key *k, const struct ct_value *v, struct ct_key *o)
{
	struct ct_key back = {};
	struct ct_value *other;

	ct_partner_key(o, k, v);
	other = bpf_map_lookup_elem(&conntrack, o);
	if (!other || (other->flags & CT_F_REPLY) == (v->flags & CT_F_REPLY) || other->svc_id != v->svc_id)
		return 0;
	ct_partner_key(&back, o, other);
	return ct_key_eq(&back, k) ? other : 0;
}

/* Whether the flow that entry v (key k) belongs to is still live: its own entry is, or, past
 * its expiry (one direction silent, as in one-way UDP), the other direction's is. Only an
 * expired entry costs the second lookup. */
static __always_inline int ct_flow_live(const struct ct_key *k, const struct ct_value *v, __u64 now)
{
	struct ct_key o = {};
	struct ct_value *other;

	if (v->expires > now)
		return !(v->flags & CT_F_DEAD);
	if (v->flags & CT_F_DEAD)
		return 0;
	other = ct_partner(k, v, &o);
	return other && ct_entry_live(other, now);
}

/* Whether the flow of entry v (key k) is over, judged on both entries: an RST went through
 * either, or both are past their expiry (a missing partner counts as expired, but does not
 * end a live entry: ct_create writes the reply entry before the forward one). */
static __always_inline int ct_flow_over(const struct ct_key *k, const struct ct_value *v, __u64 now)
{
	struct ct_key o = {};
	struct ct_value *other = ct_partner(k, v, &o);

	if ((v->flags & CT_F_DEAD) || (other && (other->flags & CT_F_DEAD)))
		return 1;
	return v->expires <= now && (!other || other->expires <= now);
}

/* A forward entry is usable while its backend id still exists with the same address: ids
 * are never reused, so "missing" means the endpoint left the service. */
static __always_inline struct backend_value *ct_backend(const struct ct_value *ct)
{
	__u32 id = ct->backend_id;
	struct backend_value *be = bpf_map_lookup_elem(&backends, &id);

	if (!be || be->ip != ct->nat_addr || be->port != ct->nat_port)
		return 0;
	return be;
}

/* SNAT source port range from lb_config (host order, inclusive). */
static __always_inline void snat_port_range(__u32 *min, __u32 *span)
{
	__u32 zero = 0;
	struct lb_config *cfg = bpf_map_lookup_elem(&lb_config, &zero);
	__u32 lo = BPFPROXY_SNAT_PORT_MIN, hi = BPFPROXY_SNAT_PORT_MAX;

	if (cfg && cfg->snat_port_min && cfg->snat_port_max >= cfg->snat_port_min) {
		lo = cfg->snat_port_min;
		hi = cfg->snat_port_max;
	}
	*min = lo;
	*span = hi - lo + 1;
}

/* Insert the reply entry of a SNATed flow under a source port that no live flow to this
 * backend uses. The reply entry itself is the port's allocation: inserted with NOEXIST (so
 * two CPUs cannot take one port), deleted with its flow, and taken back once its flow is
 * over (ct_flow_over). Looked up before each insert: on a full LRU map a failed insert
 * would still evict some other entry. Linear probing from a random start, SNAT_TRIES ports. */
static __always_inline int ct_insert_snat_reply(struct ct_key *rk, const struct ct_value *rv, __be16 *port, __u64 now)
{
	struct ct_key fk = {};
	struct ct_value *old;
	__u32 min, span, start, i;

	snat_port_range(&min, &span);
	start = bpf_get_prandom_u32() % span;
	for (i = 0; i < BPFPROXY_SNAT_TRIES && i < span; i++) {
		rk->dport = bpf_htons((__u16)(min + (start + i) % span));
		old = bpf_map_lookup_elem(&conntrack, rk);
		if (old) {
			if (!ct_flow_over(rk, old, now))
				continue;
			if (ct_partner(rk, old, &fk))
				bpf_map_delete_elem(&conntrack, &fk);
			bpf_map_delete_elem(&conntrack, rk);
		}
		int err = bpf_map_update_elem(&conntrack, rk, rv, BPF_NOEXIST);

		if (err == 0) {
			*port = rk->dport;
			return 0;
		}
		if (err != -EEXIST)
			return CT_ERR_MAP;
	}
	return CT_ERR_NO_PORT;
}

/* Record both directions of a new flow (its first packet p already counted in its state).
 * With SNAT the backend replies to `snat`:*snat_port (allocated here), and the reply entry
 * remembers the client address and port to restore. Returns 0 or a CT_ERR_*. */
static __always_inline int ct_create(const struct pkt4 *p, __u32 svc_id, __u32 backend_id,
				     const struct backend_value *be, __be32 snat, __u16 flags, __u64 now,
				     __be16 *snat_port)
{
	struct ct_key fk = {}, rk = {};
	struct ct_value fv = {}, rv = {};
	__u64 expires = now + ct_lifetime_ns(p->proto, 0);
	int err;

	ct_key_of(&fk, p);
	fv.expires = expires;
	fv.backend_id = backend_id;
	fv.svc_id = svc_id;
	fv.nat_addr = be->ip;
	fv.nat_port = be->port;
	fv.orig_addr = snat;
	fv.flags = flags | CT_F_TIMED | (snat ? CT_F_HAIRPIN : 0);

	rk.saddr = be->ip;
	rk.daddr = snat ? snat : p->saddr;
	rk.sport = be->port;
	rk.dport = p->sport;
	rk.proto = p->proto;
	rv.expires = expires;
	rv.backend_id = backend_id;
	rv.svc_id = svc_id;
	rv.nat_addr = p->daddr;
	rv.nat_port = p->dport;
	rv.orig_addr = snat ? p->saddr : 0;
	rv.orig_port = snat ? p->sport : 0;
	/* Replies always leave through the FIB: after reverse NAT their source is the frontend,
	 * which no route points back to over the backend's interface (rp_filter would drop them). */
	rv.flags = fv.flags | CT_F_FIB | CT_F_REPLY;

	/* Reply entry first: once the forward entry exists, replies may already flow. */
	if (snat) {
		err = ct_insert_snat_reply(&rk, &rv, snat_port, now);
		if (err)
			return err;
		fv.orig_port = *snat_port;
	} else if (bpf_map_update_elem(&conntrack, &rk, &rv, BPF_ANY) < 0) {
		return CT_ERR_MAP;
	}
	if (bpf_map_update_elem(&conntrack, &fk, &fv, BPF_ANY) < 0) {
		bpf_map_delete_elem(&conntrack, &rk); /* gives the SNAT port back */
		return CT_ERR_MAP;
	}
	return 0;
}

/* Delete a flow by its forward entry. Its reply entry goes too, unless that key already
 * belongs to another flow (a SNAT port taken back, a tuple reused). */
static __always_inline void ct_delete_flow(const struct ct_key *fk, const struct ct_value *fwd)
{
	struct ct_key rk = {};

	if (ct_partner(fk, fwd, &rk))
		bpf_map_delete_elem(&conntrack, &rk);
	bpf_map_delete_elem(&conntrack, fk);
}

#endif
