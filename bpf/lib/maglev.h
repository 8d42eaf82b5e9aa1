/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maglev lookup for a new flow (tables: abi.h; built by src/backends/ebpf/maglev.ts).
 * Plain values in, a backend id out: no skb, so an XDP program can use it as tc_lb does.
 *
 * The flow hash is MurmurHash3 x86_32 (Austin Appleby, public domain) of four 32-bit words,
 * read as little-endian blocks: saddr, daddr (both host order, i.e. ntohl of the wire value),
 * sport << 16 | dport (host order), proto; seeded with maglev_cfg.flow_seed. The same
 * function lives in src/backends/ebpf/flow-hash.ts, so every node (and the tests) computes
 * the same index for the same flow.
 */
#ifndef BPFPROXY_MAGLEV_H
#define BPFPROXY_MAGLEV_H

#include <bpf/bpf_endian.h>
#include "maps.h"

static __always_inline __u32 maglev_rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* One MurmurHash3 x86_32 block round. */
static __always_inline __u32 maglev_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = maglev_rotl32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = maglev_rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

/* MurmurHash3's finalisation, with the message length in bytes. */
static __always_inline __u32 maglev_finish(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 maglev_flow_hash(__u32 seed, __be32 saddr, __be32 daddr, __be16 sport, __be16 dport, __u8 proto)
{
	__u32 h = seed;

	h = maglev_mix(h, bpf_ntohl(saddr));
	h = maglev_mix(h, bpf_ntohl(daddr));
	h = maglev_mix(h, ((__u32)bpf_ntohs(sport) << 16) | bpf_ntohs(dport));
	h = maglev_mix(h, proto);
	return maglev_finish(h, 16);
}

/* IPv6: the same hash over ten words: saddr[0..3], daddr[0..3] (each ntohl of its wire word),
 * sport << 16 | dport, proto (40 bytes). flowHash() in flow-hash.ts takes either family. */
static __always_inline __u32 maglev_flow_hash6(__u32 seed, const __be32 *saddr, const __be32 *daddr, __be16 sport, __be16 dport, __u8 proto)
{
	__u32 h = seed;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++)
		h = maglev_mix(h, bpf_ntohl(saddr[i]));
#pragma unroll
	for (i = 0; i < 4; i++)
		h = maglev_mix(h, bpf_ntohl(daddr[i]));
	h = maglev_mix(h, ((__u32)bpf_ntohs(sport) << 16) | bpf_ntohs(dport));
	h = maglev_mix(h, proto);
	return maglev_finish(h, 40);
}

/* maglev_cfg, or 0 while the controller has written none (no table size). */
static __always_inline const struct maglev_config *maglev_config_get(void)
{
	__u32 zero = 0;
	struct maglev_config *cfg = bpf_map_lookup_elem(&maglev_cfg, &zero);

	return cfg && cfg->table_size ? cfg : 0;
}

/* The backend id in slot hash % M of frontend svc_id's table, or 0 with no table. */
static __always_inline __u32 maglev_table_pick(__u32 svc_id, const struct maglev_config *cfg, __u32 hash)
{
	__u32 idx = hash % cfg->table_size;
	void *table = bpf_map_lookup_elem(&maglev, &svc_id);
	__u32 *id;

	if (!table)
		return 0;
	id = bpf_map_lookup_elem(table, &idx);
	return id ? *id : 0;
}

/* The backend the maglev table of frontend svc_id gives this 5-tuple, or 0 when there is
 * none (no table yet, no config): the caller then picks as it would without maglev. */
static __always_inline __u32 maglev_select(__u32 svc_id, __be32 saddr, __be32 daddr, __be16 sport, __be16 dport, __u8 proto)
{
	const struct maglev_config *cfg = maglev_config_get();

	return cfg ? maglev_table_pick(svc_id, cfg, maglev_flow_hash(cfg->flow_seed, saddr, daddr, sport, dport, proto)) : 0;
}

/* maglev_select for an IPv6 flow (the tables are shared: they hold backend ids). */
static __always_inline __u32 maglev_select6(__u32 svc_id, const __be32 *saddr, const __be32 *daddr, __be16 sport, __be16 dport, __u8 proto)
{
	const struct maglev_config *cfg = maglev_config_get();

	return cfg ? maglev_table_pick(svc_id, cfg, maglev_flow_hash6(cfg->flow_seed, saddr, daddr, sport, dport, proto)) : 0;
}

#endif
