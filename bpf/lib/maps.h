/* SPDX-License-Identifier: Apache-2.0 */
/* Map definitions shared by every program. Pinned by name under the loader's pin root, so
 * tc_lb and sock_lb objects (and a restarted controller) share one set of maps. */
#ifndef BPFPROXY_MAPS_H
#define BPFPROXY_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../include/abi.h"
#include "sock_maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_SERVICES_MAX);
	__type(key, struct svc_key);
	__type(value, struct svc_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct backend_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_REV_NAT_MAX);
	__type(key, __u32);
	__type(value, struct rev_nat_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rev_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFPROXY_CT_MAX);
	__type(key, struct ct_key);
	__type(value, struct ct_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFPROXY_AFFINITY_MAX);
	__type(key, struct affinity_key);
	__type(value, struct affinity_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct id_alloc);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} id_alloc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_SVC_META_MAX);
	__type(key, __u32);
	__type(value, struct svc_meta);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} svc_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFPROXY_FRAG_MAX);
	__type(key, struct frag_key);
	__type(value, struct frag_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frag4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BPFPROXY_STATS_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dp_stats SEC(".maps");

/* xdp_lb's settings (abi.h): in every object, like the others, so the controller finds it
 * among tc_lb's maps. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdp_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_cfg SEC(".maps");

/* Source CIDRs per LoadBalancer frontend; LPM tries must not be preallocated. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, BPFPROXY_LB_SRC_MAX);
	__type(key, struct lb_src_key);
	__type(value, struct lb_src_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_src_range SEC(".maps");

/* Maglev: svc_id → that frontend's lookup table (abi.h). The inner definition is only the
 * template the outer map checks inner maps against: BPF_F_INNER_MAP lets the controller
 * insert arrays of any size (maglev_cfg.table_size), so the table size is a flag, not a
 * constant compiled in here. */
_Static_assert(BPFPROXY_MAGLEV_INNER_FLAGS == BPF_F_INNER_MAP, "abi.h: BPFPROXY_MAGLEV_INNER_FLAGS is BPF_F_INNER_MAP");

struct maglev_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BPFPROXY_MAGLEV_SIZE_MIN);
	__uint(map_flags, BPFPROXY_MAGLEV_INNER_FLAGS);
	__type(key, __u32);
	__type(value, __u32); /* backend_id */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, BPFPROXY_MAGLEV_MAX);
	__type(key, __u32); /* svc_id */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct maglev_table); /* last: a flexible array */
} maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct maglev_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} maglev_cfg SEC(".maps");

/* IPv6 twins (abi.h): the same roles with 16-byte addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_SERVICES_MAX);
	__type(key, struct svc6_key);
	__type(value, struct svc_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_BACKENDS_MAX);
	__type(key, __u32);
	__type(value, struct backend6_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BPFPROXY_REV_NAT_MAX);
	__type(key, __u32);
	__type(value, struct rev_nat6_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rev_nat6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFPROXY_CT_MAX);
	__type(key, struct ct6_key);
	__type(value, struct ct6_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conntrack6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFPROXY_AFFINITY_MAX);
	__type(key, struct affinity6_key);
	__type(value, struct affinity_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} affinity6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb6_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb6_config SEC(".maps");

#endif
