/* SPDX-License-Identifier: Apache-2.0 */
/* Conntrack in an LRU hash: one forward entry (client → frontend, before DNAT) and one reply
 * entry (backend → client or hairpin address, before reverse NAT) per flow. */
#ifndef BPFPROXY_CONNTRACK_H
#define BPFPROXY_CONNTRACK_H

#include <asm-generic/errno-base.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "parse.h"

#define CT_ERR_MAP     (-1) /* a conntrack write failed (map error) */
#define CT_ERR_NO_PORT (-2) /* every SNAT port tried is taken towards this backend */

static __always_inline void ct_key_of(struct ct_key *k, const struct pkt4 *p, __u8 dir)
{
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->dir = dir;
	k->pad0 = 0;
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

/* The forward key of the flow a SNAT reply entry belongs to (client → frontend). */
static __always_inline void ct_fwd_key_of_reply(struct ct_key *k, const struct ct_value *r, __u8 proto)
{
	k->saddr = r->orig_addr;
	k->daddr = r->nat_addr;
	k->sport = r->orig_port;
	k->dport = r->nat_port;
	k->proto = proto;
	k->dir = CT_DIR_FORWARD;
	k->pad0 = 0;
}

/* The reply key of a tracked forward flow (what ct_create wrote). */
static __always_inline void ct_reply_key_of_fwd(struct ct_key *k, const struct pkt4 *p, const struct ct_value *fwd)
{
	k->saddr = fwd->nat_addr;
	k->daddr = fwd->orig_addr ? fwd->orig_addr : p->saddr;
	k->sport = fwd->nat_port;
	k->dport = (fwd->orig_addr && fwd->orig_port) ? fwd->orig_port : p->sport;
	k->proto = p->proto;
	k->dir = CT_DIR_REPLY;
	k->pad0 = 0;
}

/* A FIN or RST of a TCP flow marks its reply entry: that is what frees its SNAT port. */
static __always_inline void ct_mark_closing(struct ct_value *reply, __u8 tcp_flags)
{
	if (tcp_flags & PKT_TCP_RST)
		reply->flags |= CT_F_DEAD;
	else if (tcp_flags & PKT_TCP_FIN)
		reply->flags |= CT_F_CLOSING;
}

/* Whether the SNATed flow that holds reply entry r (key rk) is over: reset, closed and
 * quiet for CT_CLOSE_TIMEOUT, or idle past its protocol's timeout in both directions.
 * Its forward key goes to *fk, for the caller to delete. */
static __always_inline int ct_snat_stale(const struct ct_key *rk, const struct ct_value *r, struct ct_key *fk, __u64 now)
{
	struct ct_value *fwd;
	__u64 last = r->last_seen, timeout;

	ct_fwd_key_of_reply(fk, r, rk->proto);
	if (r->flags & CT_F_DEAD)
		return 1;
	if (!r->orig_port)
		return 0; /* written before per-flow ports: its forward key is unknown, keep it */
	fwd = bpf_map_lookup_elem(&conntrack, fk);
	if (!fwd)
		return 1; /* half a flow: its next forward packet starts a new one anyway */
	if (fwd->last_seen > last)
		last = fwd->last_seen;
	if (r->flags & CT_F_CLOSING)
		timeout = BPFPROXY_CT_CLOSE_TIMEOUT_S;
	else if (rk->proto == IPPROTO_TCP)
		timeout = BPFPROXY_CT_TCP_TIMEOUT_S;
	else
		timeout = BPFPROXY_CT_UDP_TIMEOUT_S;
	return now - last > timeout * 1000000000ULL;
}

/* Insert the reply entry of a SNATed flow under a source port that no live flow to this
 * backend uses. The reply entry itself is the port's allocation: inserted with NOEXIST (so
 * two CPUs cannot take one port), deleted with its flow, and taken back once its flow is
 * over (ct_snat_stale). Looked up before each insert: on a full LRU map a failed insert
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
			if (!ct_snat_stale(rk, old, &fk, now))
				continue;
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

/* Record both directions of a new flow. With SNAT the backend replies to `snat`:*snat_port
 * (allocated here), and the reply entry remembers the client address and port to restore.
 * Returns 0 or a CT_ERR_*. */
static __always_inline int ct_create(const struct pkt4 *p, __u32 svc_id, __u32 backend_id,
				     const struct backend_value *be, __be32 snat, __u16 flags, __u64 now,
				     __be16 *snat_port)
{
	struct ct_key fk = {}, rk = {};
	struct ct_value fv = {}, rv = {};
	int err;

	ct_key_of(&fk, p, CT_DIR_FORWARD);
	fv.created = now;
	fv.last_seen = now;
	fv.backend_id = backend_id;
	fv.svc_id = svc_id;
	fv.nat_addr = be->ip;
	fv.nat_port = be->port;
	fv.orig_addr = snat;
	fv.flags = flags | (snat ? CT_F_HAIRPIN : 0);

	rk.saddr = be->ip;
	rk.daddr = snat ? snat : p->saddr;
	rk.sport = be->port;
	rk.dport = p->sport;
	rk.proto = p->proto;
	rk.dir = CT_DIR_REPLY;
	rv.created = now;
	rv.last_seen = now;
	rv.backend_id = backend_id;
	rv.svc_id = svc_id;
	rv.nat_addr = p->daddr;
	rv.nat_port = p->dport;
	rv.orig_addr = snat ? p->saddr : 0;
	rv.orig_port = snat ? p->sport : 0;
	/* Replies always leave through the FIB: after reverse NAT their source is the frontend,
	 * which no route points back to over the backend's interface (rp_filter would drop them). */
	rv.flags = fv.flags | CT_F_FIB;

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

static __always_inline void ct_delete_flow(const struct pkt4 *p, const struct ct_value *fwd)
{
	struct ct_key fk = {}, rk = {};

	ct_key_of(&fk, p, CT_DIR_FORWARD);
	ct_reply_key_of_fwd(&rk, p, fwd);
	bpf_map_delete_elem(&conntrack, &rk);
	bpf_map_delete_elem(&conntrack, &fk);
}

#endif
