/* SPDX-License-Identifier: Apache-2.0 */
/* IPv6 service lookup and backend selection (the twin of lb.h): ClientIP affinity
 * (affinity6), else Maglev (shared tables, v6 flow hash) or a random slot of services6. */
#ifndef BPFPROXY_LB6_H
#define BPFPROXY_LB6_H

#include "maps.h"
#include "maglev.h"
#include "lb.h"
#include "parse6.h"

static __always_inline struct svc_value *lb6_lookup_service(const __be32 *vip, __be16 port, __u8 proto)
{
	struct svc6_key k = {};

	addr6_copy(k.vip, vip);
	k.dport = port;
	k.proto = proto;
	return bpf_map_lookup_elem(&services6, &k);
}

static __always_inline struct backend6_value *lb6_backend(__u32 id)
{
	return bpf_map_lookup_elem(&backends6, &id);
}

/* As lb_select. `p` is the new flow as it arrived, or null (socket LB: no source port). */
static __always_inline __u32 lb6_select(const __be32 *vip, __be16 port, __u8 proto, const struct svc_value *svc,
					const __be32 *client, const struct pkt6 *p, __u64 now)
{
	struct affinity6_key ak = {};
	struct affinity_value *av, nav = {};
	struct svc6_key k = {};
	struct svc_value *slot;
	__u32 id = 0;

	ak.svc_id = svc->svc_id;
	addr6_copy(ak.client, client);
	if (svc->flags & SVC_F_AFFINITY) {
		av = bpf_map_lookup_elem(&affinity6, &ak);
		if (av && now <= av->last_used + (__u64)svc->affinity_timeout * NSEC_PER_SEC) {
			struct backend6_value *be = lb6_backend(av->backend_id);
			__u8 active = (svc->flags & SVC_F_LOCALHOST) ? (BE_F_ACTIVE | BE_F_ACTIVE_EXT) :
				      (svc->flags & SVC_F_EXTERNAL) ? BE_F_ACTIVE_EXT : BE_F_ACTIVE;

			if (be && (be->flags & active) && be->sp_id == svc->backend_id)
				id = av->backend_id;
		}
	}
	if (!id && p && (svc->flags & SVC_F_MAGLEV))
		id = maglev_select6(svc->svc_id, p->saddr, p->daddr, p->sport, p->dport, p->proto);
	if (!id) {
		addr6_copy(k.vip, vip);
		k.dport = port;
		k.proto = proto;
		k.slot = (bpf_get_prandom_u32() % svc->count) + 1;
		slot = bpf_map_lookup_elem(&services6, &k);
		if (!slot)
			return 0;
		id = slot->backend_id;
	}
	if (svc->flags & SVC_F_AFFINITY) {
		nav.last_used = now;
		nav.backend_id = id;
		bpf_map_update_elem(&affinity6, &ak, &nav, BPF_ANY);
	}
	return id;
}

/* As lb_snat_addr: the SNAT source for a new flow (into lb6_config, or the frontend address
 * itself for a NodePort), null for none. */
static __always_inline const __be32 *lb6_snat_addr(const struct svc_value *svc, const __be32 *vip,
						   const struct backend6_value *be, const __be32 *client)
{
	__u32 zero = 0;
	struct lb6_config *cfg = bpf_map_lookup_elem(&lb6_config, &zero);

	if (!cfg)
		return 0;
	if (addr6_eq(be->ip, client))
		return addr6_zero(cfg->hairpin_addr) ? 0 : cfg->hairpin_addr;
	if ((svc->flags & SVC_F_EXTERNAL) && ((be->flags & BE_F_REMOTE) || (svc->flags & SVC_F_SNAT_ALL))) {
		if (svc->flags & SVC_F_NODEPORT)
			return vip;
		return addr6_zero(cfg->snat_addr) ? 0 : cfg->snat_addr;
	}
	return 0;
}

#endif
