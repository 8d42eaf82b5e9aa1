/* SPDX-License-Identifier: Apache-2.0 */
/* Fragmented datagrams (large UDP answers, DNS over UDP beyond the MTU): only the first
 * fragment carries the ports that select the flow. Its ports are kept in frag4, keyed by the
 * datagram's addresses, protocol and IP id as they arrive, so the fragments after it find the
 * same flow and get the same addresses. Fragments are not reassembled: a later fragment that
 * arrives before its first (or after frag4 forgot it) passes untouched, as before. */
#ifndef BPFPROXY_FRAG_H
#define BPFPROXY_FRAG_H

#include "maps.h"
#include "parse.h"

static __always_inline void frag_key_of(struct frag_key *k, const struct pkt4 *p)
{
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->id = p->ip_id;
	k->proto = p->proto;
	k->pad0 = 0;
}

/* The first fragment: remember its ports for the rest of the datagram. */
static __always_inline void frag_remember(const struct pkt4 *p)
{
	struct frag_key k = {};
	struct frag_value v = { .sport = p->sport, .dport = p->dport };

	frag_key_of(&k, p);
	bpf_map_update_elem(&frag4, &k, &v, BPF_ANY);
}

/* A later fragment: its datagram's ports into p. <0 when its first fragment was not seen.
 * The last fragment (by offset) forgets the datagram. */
static __always_inline int frag_ports(struct pkt4 *p)
{
	struct frag_key k = {};
	struct frag_value *v;

	frag_key_of(&k, p);
	v = bpf_map_lookup_elem(&frag4, &k);
	if (!v)
		return -1;
	p->sport = v->sport;
	p->dport = v->dport;
	if (p->frag == PKT_FRAG_LAST)
		bpf_map_delete_elem(&frag4, &k);
	return 0;
}

#endif
