/* SPDX-License-Identifier: Apache-2.0 */
/* tc_lb for interfaces without an Ethernet header (IPIP tunl0, WireGuard, tun): the same
 * program, built with the IP header at offset 0 (lib/l2.h). The loader attaches it to every
 * interface whose hardware type is not Ethernet. */
#define BPFPROXY_L3 1
#include "tc_lb.bpf.c"
