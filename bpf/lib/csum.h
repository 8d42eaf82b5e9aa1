/* SPDX-License-Identifier: Apache-2.0 */
/* Checksum helpers: incremental rewrites through the kernel helpers (they keep
 * CHECKSUM_PARTIAL/COMPLETE skbs right), full sums for packets we build ourselves. */
#ifndef BPFPROXY_CSUM_H
#define BPFPROXY_CSUM_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include "l2.h"

#define IP_OFF        L2_HLEN
#define IP_CSUM_OFF   (L2_HLEN + offsetof(struct iphdr, check))
#define IP_SADDR_OFF  (L2_HLEN + offsetof(struct iphdr, saddr))
#define IP_DADDR_OFF  (L2_HLEN + offsetof(struct iphdr, daddr))

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* One's complement sum of a buffer on the stack (size a multiple of 4), unfolded. */
static __always_inline __u32 csum_buf(void *buf, __u32 size, __u32 seed)
{
	return (__u32)bpf_csum_diff(0, 0, (__be32 *)buf, size, seed);
}

/* Rewrite a 4-byte IPv4 address at addr_off, fixing the IP and the L4 (pseudo header) sums.
 * UDP with checksum 0 stays 0 (BPF_F_MARK_MANGLED_0). */
static __always_inline int csum_store_addr(struct __sk_buff *skb, __u32 addr_off, __u32 l4_csum_off,
					   int is_udp, __be32 from, __be32 to)
{
	__u64 l4flags = BPF_F_PSEUDO_HDR | sizeof(to) | (is_udp ? BPF_F_MARK_MANGLED_0 : 0);

	if (bpf_l4_csum_replace(skb, l4_csum_off, from, to, l4flags) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, &to, sizeof(to), 0);
}

/* Rewrite a 2-byte L4 port at port_off, fixing the L4 sum. */
static __always_inline int csum_store_port(struct __sk_buff *skb, __u32 port_off, __u32 l4_csum_off,
					   int is_udp, __be16 from, __be16 to)
{
	__u64 l4flags = sizeof(to) | (is_udp ? BPF_F_MARK_MANGLED_0 : 0);

	if (bpf_l4_csum_replace(skb, l4_csum_off, from, to, l4flags) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, port_off, &to, sizeof(to), 0);
}

#endif
