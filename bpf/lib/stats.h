/* SPDX-License-Identifier: Apache-2.0 */
/* Per-CPU packet counters by path and drop reason (abi.h STAT_*): no drop is silent. */
#ifndef BPFPROXY_STATS_H
#define BPFPROXY_STATS_H

#include <linux/pkt_cls.h>
#include "maps.h"

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *n = bpf_map_lookup_elem(&dp_stats, &idx);

	/* Per-CPU slot, and tc programs do not migrate while they run: a plain add is exact. */
	if (n)
		*n += 1;
}

/* Counts the reason and drops the packet. */
static __always_inline int drop(__u32 reason)
{
	stat_inc(reason);
	return TC_ACT_SHOT;
}

#endif
