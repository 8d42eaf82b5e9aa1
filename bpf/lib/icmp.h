/* SPDX-License-Identifier: Apache-2.0 */
/* The ICMPv4 header (RFC 792) and the message types the data plane sends or reads.
 * Defined here rather than taken from <linux/icmp.h>: that UAPI header includes
 * <linux/if.h>, which includes glibc's <sys/socket.h>, and a BPF object must build from
 * kernel UAPI headers alone (glibc asks `-target bpf` for its 32-bit stubs). */
#ifndef BPFPROXY_ICMP_H
#define BPFPROXY_ICMP_H

#include <linux/types.h>

struct icmp4_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;  /* type-specific: unused for port unreachable, next-hop MTU for frag-needed */
};

#define ICMP4_DEST_UNREACH  3   /* type */
#define ICMP4_PORT_UNREACH  3   /* code of ICMP4_DEST_UNREACH */

_Static_assert(sizeof(struct icmp4_hdr) == 8, "ICMP header is 8 bytes (RFC 792)");

#endif
