/* SPDX-License-Identifier: Apache-2.0 */
/* Service lookup and backend selection (ClientIP affinity, else Maglev or random over slots). */
#ifndef BPFPROXY_LB_H
#define BPFPROXY_LB_H

#include "maps.h"
#include "maglev.h"

#define NSEC_PER_SEC 1000000000ULL

static __always_inline struct svc_value *lb_lookup_service(__be32 vip, __be16 port, __u8 proto)
{
	struct svc_key k = {};

	k.vip = vip;
	k.dport = port;
	k.proto = proto;
	k.slot = 0;
	return bpf_map_lookup_elem(&services, &k);
}

static __always_inline struct backend_value *lb_backend(__u32 id)
{
	return bpf_map_lookup_elem(&backends, &id);
}

/* loadBalancerSourceRanges: may `src` open a new flow to the frontend svc_id (SVC_F_SRC_RANGE)?
 * A longest-prefix match on {svc_id, src}: any CIDR of that frontend holding src. */
static __always_inline int lb_src_allowed(__u32 svc_id, __be32 src)
{
	struct lb_src_key k = {};
	struct lb_src_value *v;

	k.prefixlen = BPFPROXY_LB_SRC_SVC_BITS + 32;
	k.svc_id = svc_id;
	k.addr = src;
	v = bpf_map_lookup_elem(&lb_src_range, &k);
	return v && v->allowed;
}

/* A new flow's 5-tuple as it arrived (before any NAT): what Maglev hashes. */
struct lb_flow {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
};

/* Pick a backend for a new flow of `client` to the frontend svc (slot 0 value, count > 0):
 * ClientIP affinity first, then the maglev table (SVC_F_MAGLEV, when `flow` is given: the
 * socket LB has no source port at connect() and picks at random), else a random slot.
 * Returns the backend id or 0 when the tables are inconsistent (never by construction). */
static __always_inline __u32 lb_select(__be32 vip, __be16 port, __u8 proto, const struct svc_value *svc,
				       __be32 client, const struct lb_flow *flow, __u64 now)
{
	struct affinity_key ak = {};
	struct affinity_value *av, nav = {};
	struct svc_key k = {};
	struct svc_value *slot;
	__u32 id = 0;

	ak.svc_id = svc->svc_id;
	ak.client = client;
	if (svc->flags & SVC_F_AFFINITY) {
		av = bpf_map_lookup_elem(&affinity, &ak);
		if (av && now <= av->last_used + (__u64)svc->affinity_timeout * NSEC_PER_SEC) {
			struct backend_value *be = lb_backend(av->backend_id);

			/* Only while the backend still takes new flows from this kind of
			 * frontend, and only one of this service port's: an id can be left
			 * over from another service's entry. A localhost NodePort picks from
			 * the cluster endpoints, which are the internal or the external ones
			 * unless both policies are Local (then a remote backend is not reused). */
			__u8 active = (svc->flags & SVC_F_LOCALHOST) ? (BE_F_ACTIVE | BE_F_ACTIVE_EXT) :
				      (svc->flags & SVC_F_EXTERNAL) ? BE_F_ACTIVE_EXT : BE_F_ACTIVE;

			if (be && (be->flags & active) && be->sp_id == svc->backend_id)
				id = av->backend_id;
		}
	}
	if (!id && flow && (svc->flags & SVC_F_MAGLEV))
		id = maglev_select(svc->svc_id, flow->saddr, flow->daddr, flow->sport, flow->dport, flow->proto);
	if (!id) {
		k.vip = vip;
		k.dport = port;
		k.proto = proto;
		k.slot = (bpf_get_prandom_u32() % svc->count) + 1;
		slot = bpf_map_lookup_elem(&services, &k);
		if (!slot)
			return 0;
		id = slot->backend_id;
	}
	if (svc->flags & SVC_F_AFFINITY) {
		nav.last_used = now;
		nav.backend_id = id;
		bpf_map_update_elem(&affinity, &ak, &nav, BPF_ANY);
	}
	return id;
}

/* Source address for a new flow's SNAT, 0 for none:
 *   hairpin (the client is the backend)            → lb_config.hairpin_addr
 *   external frontend → backend on another node,   → the node port's address, or
 *   or any backend under externalTrafficPolicy       lb_config.snat_addr (external/LB IPs)
 *   Cluster (SVC_F_SNAT_ALL)
 * so that the backend's replies come back through this node to be reverse-NATed, and so
 * that Cluster policy hides the client address as kube-proxy does. */
static __always_inline __be32 lb_snat_addr(const struct svc_value *svc, __be32 vip,
					   const struct backend_value *be, __be32 client)
{
	__u32 zero = 0;
	struct lb_config *cfg = bpf_map_lookup_elem(&lb_config, &zero);

	if (!cfg)
		return 0;
	if (be->ip == client)
		return cfg->hairpin_addr;
	if ((svc->flags & SVC_F_EXTERNAL) && ((be->flags & BE_F_REMOTE) || (svc->flags & SVC_F_SNAT_ALL)))
		return (svc->flags & SVC_F_NODEPORT) ? vip : cfg->snat_addr;
	return 0;
}

#endif
