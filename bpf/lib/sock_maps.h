/* SPDX-License-Identifier: Apache-2.0 */
/* The socket LB's own pinned maps, apart from maps.h so that sock_destroy.bpf.c can share
 * them without declaring (and adopting) every service map. */
#ifndef BPFPROXY_SOCK_MAPS_H
#define BPFPROXY_SOCK_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "../include/abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFPROXY_SOCK_REV_MAX);
	__type(key, struct sock_rev_key);
	__type(value, struct sock_rev_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_rev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sock_lb_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_lb_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BPFPROXY_SOCK_REV_MAX);
	__type(key, struct sock_rev6_key);
	__type(value, struct sock_rev6_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_rev6 SEC(".maps");

#endif
