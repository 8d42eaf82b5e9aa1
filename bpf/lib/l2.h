/* SPDX-License-Identifier: Apache-2.0 */
/* The link-layer header in front of the IP header at tc: Ethernet (14 bytes) on most
 * interfaces; none on L3 devices (IPIP, WireGuard, tun), for which tc_lb is built a second
 * time with BPFPROXY_L3 (tc_lb_l3.bpf.c) and attached instead. */
#ifndef BPFPROXY_L2_H
#define BPFPROXY_L2_H

#include <linux/if_ether.h>

#ifdef BPFPROXY_L3
#define L2_HLEN 0
#else
#define L2_HLEN ETH_HLEN
#endif

#endif
