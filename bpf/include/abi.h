/* SPDX-License-Identifier: Apache-2.0 */
/*
 * THE shared ABI between the BPF programs, the native addon and the TypeScript codecs
 * (src/backends/ebpf/abi.ts). Every struct has explicit padding so that C (clang -target bpf,
 * x86-64 g++) and TS agree byte for byte; test/backends/ebpf/abi.test.ts checks sizeof/offsetof
 * of every field through the addon, so the three cannot drift silently.
 *
 * Byte order: fields typed __be* hold network byte order (as on the wire); all other integer
 * fields are host order (little endian on every platform we target).
 * IPv6 has twins of the address-carrying structs (struct *6, maps named with a `6`), with
 * 16-byte addresses held as __be32[4] in network order; ids (svc_id, backend_id, sp_id) come
 * from one allocator for both families, so an id names one frontend or backend whatever its family.
 */
#ifndef BPFPROXY_ABI_H
#define BPFPROXY_ABI_H

#include <linux/types.h>

/* ---- map names (pinned as <pin root>/<name>, at most 15 chars) ---- */
#define BPFPROXY_MAP_SERVICES  "services"
#define BPFPROXY_MAP_BACKENDS  "backends"
#define BPFPROXY_MAP_REV_NAT   "rev_nat"
#define BPFPROXY_MAP_CT        "conntrack"
#define BPFPROXY_MAP_AFFINITY  "affinity"
#define BPFPROXY_MAP_CONFIG    "lb_config"
#define BPFPROXY_MAP_SOCK_REV  "sock_rev"
#define BPFPROXY_MAP_SVC_META  "svc_meta"
#define BPFPROXY_MAP_STATS     "dp_stats"
#define BPFPROXY_MAP_FRAG      "frag4"
#define BPFPROXY_MAP_ID_ALLOC  "id_alloc"
#define BPFPROXY_MAP_LB_SRC    "lb_src_range"
#define BPFPROXY_MAP_MAGLEV    "maglev"
#define BPFPROXY_MAP_MAGLEV_CFG "maglev_cfg"
#define BPFPROXY_MAP_SOCK_CFG  "sock_lb_cfg"
#define BPFPROXY_MAP_XDP_CFG   "xdp_cfg"
#define BPFPROXY_MAP_SOCK_GONE "sock_gone"   /* not pinned: sock_destroy.bpf.o's own */
/* IPv6 twins (same sizes as their v4 maps; --bpf-map-sizes sets both) */
#define BPFPROXY_MAP_SERVICES6 "services6"
#define BPFPROXY_MAP_BACKENDS6 "backends6"
#define BPFPROXY_MAP_REV_NAT6  "rev_nat6"
#define BPFPROXY_MAP_CT6       "conntrack6"
#define BPFPROXY_MAP_AFFINITY6 "affinity6"
#define BPFPROXY_MAP_CONFIG6   "lb6_config"
#define BPFPROXY_MAP_SOCK_REV6 "sock_rev6"
#define BPFPROXY_MAP_SOCK_GONE6 "sock_gone6" /* not pinned: sock_destroy.bpf.o's own */

/* ---- map sizes ---- */
#define BPFPROXY_SERVICES_MAX  2097152 /* frontends x (1 + slots): 100k services x 10 endpoints, and room */
#define BPFPROXY_BACKENDS_MAX  1048576 /* endpoints of all service ports (shared by their frontends) */
#define BPFPROXY_REV_NAT_MAX   262144  /* frontends */
#define BPFPROXY_CT_MAX        524288 /* two entries (forward + reply) per flow */
#define BPFPROXY_AFFINITY_MAX  131072
#define BPFPROXY_SOCK_REV_MAX  131072
#define BPFPROXY_SVC_META_MAX  262144  /* frontends */
#define BPFPROXY_FRAG_MAX      8192   /* fragmented datagrams in flight */
#define BPFPROXY_LB_SRC_MAX    65536  /* loadBalancerSourceRanges CIDRs x LoadBalancer frontends */
#define BPFPROXY_MAGLEV_MAX    65536  /* frontends balanced by Maglev (each points at a shared table) */
#define BPFPROXY_SOCK_GONE_MAX 65536  /* {backend, frontend} pairs one socket-destroy run looks for */

/* IP protocol numbers used in keys (IPPROTO_*) */
#define BPFPROXY_PROTO_TCP 6
#define BPFPROXY_PROTO_UDP 17

/* services: slot 0 holds the service, slot i (1..count) holds the i-th backend. */
struct svc_key {
	__be32 vip;     /* frontend address (ClusterIP, external IP, LB IP) */
	__be16 dport;   /* frontend port */
	__u8 proto;     /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad0;      /* must be 0 */
	__u16 slot;     /* 0 = service entry, 1..count = backend slot */
	__u16 pad1;     /* must be 0 */
};

#define SVC_F_AFFINITY  (1 << 0) /* ClientIP session affinity (affinity_timeout seconds) */
#define SVC_F_EXTERNAL  (1 << 1) /* external frontend (NodePort, external IP, LB IP): remote backends need SNAT */
#define SVC_F_NODEPORT  (1 << 2) /* frontend is a node address + node port (SNAT source = that address) */
#define SVC_F_DROP_EMPTY (1 << 3) /* count 0 because a Local policy left no endpoints here: drop, not reject */
#define SVC_F_SNAT_ALL  (1 << 4) /* externalTrafficPolicy Cluster: SNAT every new flow, local backends too (kube-proxy masquerades it) */
#define SVC_F_SRC_RANGE (1 << 5) /* LB IP of a Service with loadBalancerSourceRanges: new flows only from sources in lb_src_range */
#define SVC_F_LOCALHOST (1 << 6) /* 127.0.0.1:nodePort for the node's own processes: socket LB only, tc never translates it */
#define SVC_F_MAGLEV    (1 << 7) /* new flows (tc) pick their backend from this frontend's maglev table, not a random slot */

struct svc_value {
	__u32 backend_id;       /* slot >= 1: key into backends; slot 0: the service port's sp_id */
	__u32 svc_id;           /* id of this frontend: key into rev_nat, affinity, conntrack */
	__u16 count;            /* slot 0: number of backend slots (0 = no endpoints → reject) */
	__u16 flags;            /* slot 0: SVC_F_* */
	__u32 affinity_timeout; /* slot 0: ClientIP affinity timeout in seconds */
};

#define BE_F_ACTIVE      (1 << 0) /* in the slots of the service port's ClusterIP frontends (new flows may pick it) */
#define BE_F_TERMINATING (1 << 1) /* endpoint is terminating: only established flows */
#define BE_F_REMOTE      (1 << 2) /* endpoint on another node: external clients are SNATed so replies come back here */
#define BE_F_ACTIVE_EXT  (1 << 3) /* in the slots of its external frontends (they differ under externalTrafficPolicy Local) */

/* backends: backend_id (__u32, host order) → backend. One entry per endpoint of a service
 * port, shared by all its frontends (ClusterIP, NodePorts, external and LB IPs). Ids are
 * never reused, so a deleted id means "this endpoint left the service": established flows
 * to it are reset. */
struct backend_value {
	__be32 ip;      /* endpoint (pod) address */
	__be16 port;    /* endpoint port (targetPort) */
	__u8 proto;     /* IPPROTO_* */
	__u8 flags;     /* BE_F_* */
	__u32 sp_id;    /* owning service port (= slot 0 backend_id of each of its frontends) */
};

/* rev_nat: svc_id (__u32) → the frontend that replies must appear to come from. */
struct rev_nat_value {
	__be32 vip;     /* frontend address */
	__be16 port;    /* frontend port */
	__u16 pad0;     /* must be 0 */
};

/* conntrack: one entry per direction of a flow, keyed by the tuple exactly as it arrives at tc
 * ingress: the forward entry by client → frontend (before DNAT), the reply entry by backend →
 * client or SNAT address (before reverse NAT). Which one it is lives in the value
 * (CT_F_REPLY), so a packet costs one lookup whatever its direction. */
struct ct_key {
	__be32 saddr;   /* source address */
	__be32 daddr;   /* destination address */
	__be16 sport;   /* source port */
	__be16 dport;   /* destination port */
	__u8 proto;     /* IPPROTO_* */
	__u8 pad0;      /* must be 0 (held the direction before CT_F_REPLY) */
	__u16 pad1;     /* must be 0 */
};

#define CT_F_HAIRPIN     (1 << 0) /* source was SNATed (hairpin or external → remote backend) */
#define CT_F_REPLY       (1 << 1) /* the reply entry of its flow (else the forward entry) */
#define CT_F_FIB         (1 << 2) /* send rewritten packets on via FIB lookup + redirect, past netfilter */
#define CT_F_CLOSING     (1 << 3) /* TCP: this direction sent a FIN (CT_CLOSE_TIMEOUT) */
#define CT_F_DEAD        (1 << 4) /* TCP: an RST went through: the flow is over at once */
#define CT_F_ESTABLISHED (1 << 5) /* TCP: this direction sent a segment without SYN (CT_TCP_TIMEOUT) */
#define CT_F_TIMED       (1 << 6) /* `expires` is set; entries of older versions lack it and are converted at start */

/* Lifetimes, renewed by every packet of the direction. A flow is over when an RST went
 * through, or when both of its entries are past `expires`: then lookups ignore it, its SNAT
 * port may go to another flow, and the controller's garbage collector deletes it. */
#define BPFPROXY_CT_SYN_TIMEOUT_S   60    /* TCP before the direction sent anything but its SYN */
#define BPFPROXY_CT_TCP_TIMEOUT_S   21600 /* TCP established (6 h) */
#define BPFPROXY_CT_CLOSE_TIMEOUT_S 10    /* TCP after this direction's FIN */
#define BPFPROXY_CT_UDP_TIMEOUT_S   60    /* UDP */
/* An entry's `expires` is written only when it would move by more than this: an established
 * flow costs one store per entry per second, not one per packet. */
#define BPFPROXY_CT_RENEW_NS        1000000000ULL

struct ct_value {
	__u64 expires;    /* bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC) after which the entry is over */
	__u64 pad1;       /* must be 0 (held last_seen before CT_F_TIMED) */
	__u32 backend_id; /* chosen backend (forward entries validate it on every packet) */
	__u32 svc_id;     /* frontend id */
	__be32 nat_addr;  /* forward: backend ip; reply: frontend vip (the reply's new source) */
	__be32 orig_addr; /* forward: SNAT source or 0; reply: client address to restore after SNAT, or 0 */
	__be16 nat_port;  /* forward: backend port; reply: frontend port */
	__u16 flags;      /* CT_F_* */
	__be16 orig_port; /* forward: allocated SNAT source port; reply: client port to restore (with orig_addr) */
	__u16 pad0;       /* must be 0 */
};

/* frag4: the ports of a fragmented datagram, from its first fragment, for the fragments
 * after it (which carry no L4 header). Keyed by the datagram as it arrives (before NAT). */
struct frag_key {
	__be32 saddr;   /* source address */
	__be32 daddr;   /* destination address */
	__be16 id;      /* IP identification */
	__u8 proto;     /* IPPROTO_* */
	__u8 pad0;      /* must be 0 */
};

struct frag_value {
	__be16 sport;   /* the first fragment's source port */
	__be16 dport;   /* the first fragment's destination port */
};

/* affinity: ClientIP session affinity per frontend. */
struct affinity_key {
	__u32 svc_id;     /* frontend id */
	__be32 client;    /* client address */
};

struct affinity_value {
	__u64 last_used;  /* bpf_ktime_get_ns() of the last new flow that used it */
	__u32 backend_id; /* backend chosen for this client */
	__u32 pad0;       /* must be 0 */
};

/* SNAT source ports (host order, inclusive). Above Linux's default ephemeral range
 * (32768–60999), so an allocated port does not collide with the node's own connections. */
#define BPFPROXY_SNAT_PORT_MIN 61000
#define BPFPROXY_SNAT_PORT_MAX 65535
/* Ports tried for one new SNATed flow before it is dropped as "SNAT ports exhausted". */
#define BPFPROXY_SNAT_TRIES 32

/* lb_config: ARRAY with one entry (key 0). */
struct lb_config {
	__be32 hairpin_addr;   /* SNAT source for pod → own Service → itself; 0 = hairpin disabled */
	__be32 snat_addr;      /* SNAT source for external frontends → remote backends (node address); 0 = none */
	__u16 snat_port_min;   /* SNAT source port range, host order, inclusive; */
	__u16 snat_port_max;   /*   min 0 = BPFPROXY_SNAT_PORT_MIN..MAX */
	__be32 node_addr;      /* the node's primary IPv4 address: the source the socket LB assumes for an
	                        * unbound socket (loadBalancerSourceRanges); 0 = unknown (was pad0) */
};

/* id_alloc: ARRAY with one entry (key 0), written by the controller only: the next ids it
 * hands out. Pinned, so a restarted controller never reuses an id a stale conntrack or
 * affinity entry may still carry (the tables alone only give max + 1 of what is left). */
struct id_alloc {
	__u32 next_svc;     /* svc_id (frontends) */
	__u32 next_backend; /* backend_id */
	__u32 next_sp;      /* sp_id (service ports) */
	__u32 pad0;         /* must be 0 */
};

/* lb_src_range: LPM_TRIE of the loadBalancerSourceRanges of each LoadBalancer frontend that has
 * SVC_F_SRC_RANGE. The trie matches the key's bytes after prefixlen from the first bit on, so
 * svc_id comes first and every entry's prefix covers it whole: prefixlen = 32 + CIDR bits, and
 * a lookup uses 64 (svc_id + the full source address). svc_id is compared as stored bytes,
 * host order on both sides, so it needs no conversion. */
#define BPFPROXY_LB_SRC_SVC_BITS 32

struct lb_src_key {
	__u32 prefixlen; /* 32 (svc_id) + CIDR prefix length; 64 for a lookup */
	__u32 svc_id;    /* LoadBalancer frontend id */
	__be32 addr;     /* CIDR network (host bits 0) / the source address looked up */
};

struct lb_src_value {
	__u32 allowed;   /* 1: sources in this CIDR may open new flows (absent = not allowed) */
};

/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016). The control plane builds one lookup
 * table per distinct backend set (src/backends/ebpf/maglev.ts) and the data plane only looks
 * it up (bpf/lib/maglev.h):
 *   maglev      HASH_OF_MAPS: svc_id (__u32, the frontend's rev_nat id) → inner map
 *   inner map   ARRAY of maglev_config.table_size __u32 backend ids, created with
 *               BPFPROXY_MAGLEV_INNER_FLAGS (BPF_F_INNER_MAP: any size fits the outer map).
 *               Frontends whose tables are equal share one inner map. Written whole before it
 *               is swapped into `maglev`, so a lookup sees the old table or the new, never half.
 *   maglev_cfg  ARRAY with one entry (key 0): the table size and the flow hash seed, the same
 *               on every node started with the same flags.
 * A new flow to an SVC_F_MAGLEV frontend takes table[flow_hash % table_size]; no table (or
 * table_size 0) falls back to the random slot choice.
 */
#define BPFPROXY_MAGLEV_INNER_FLAGS  (1U << 12) /* BPF_F_INNER_MAP */
#define BPFPROXY_MAGLEV_SIZE_DEFAULT 16381      /* prime; M >= 100 x backends keeps the imbalance near 1% */
#define BPFPROXY_MAGLEV_SIZE_MIN     251        /* smallest accepted table size (prime) */
#define BPFPROXY_MAGLEV_SIZE_MAX     131071     /* largest accepted (prime): 512 KiB per table */

struct maglev_config {
	__u32 table_size; /* M: entries of every inner table (prime); 0 = no maglev tables */
	__u32 flow_seed;  /* seed of the 5-tuple hash (MurmurHash3 x86_32, lib/maglev.h) */
};

/* sock_rev: what the socket LB translated, per socket and backend: the frontend to report back
 * at recvmsg() (unconnected UDP) and getpeername(), and the mark sock_destroy.bpf.c looks for
 * (a socket connected to a backend directly, not through a Service, has no entry). */
struct sock_rev_key {
	__u64 cookie;   /* bpf_get_socket_cookie() */
	__be32 addr;    /* backend address the socket talked to */
	__be16 port;    /* backend port */
	__u16 pad0;     /* must be 0 */
};

struct sock_rev_value {
	__be32 vip;     /* frontend address the application used */
	__be16 port;    /* frontend port */
	__u16 pad0;     /* must be 0 */
	__u32 svc_id;   /* frontend id */
	__u32 pad1;     /* must be 0 */
};

/* xdp_cfg: ARRAY with one entry (key 0), written by the controller before it attaches xdp_lb.
 * XDP_CFG_F_LOCAL_REDIRECT lets xdp_lb redirect into the node's other interfaces (local pods'
 * veths). Off by default: a native redirect into a veth is dropped by the kernel unless the
 * veth's peer (the pod's end) runs NAPI (GRO or an XDP program), which the CNI decides, not
 * us; without it xdp_lb takes only flows that leave by the interface they came in on (a
 * backend on another node) and passes the rest to tc_lb. */
#define XDP_CFG_F_LOCAL_REDIRECT 1
struct xdp_config {
	__u32 flags; /* XDP_CFG_F_* */
	__u32 pad0;  /* must be 0 */
};

/* sock_lb_cfg: ARRAY with one entry (key 0), written by the controller before it attaches the
 * socket LB. A separate map, not lb_config, so that maps pinned by an older version (whose
 * lb_config has no room for it) are still adopted. */
struct sock_lb_config {
	__u64 netns_cookie; /* translate only sockets of this netns (bpf_get_netns_cookie(), the
	                     * node's: --socket-lb-host-netns-only); 0 = sockets of every netns */
};

/*
 * Closing sockets whose backend is gone (sock_destroy.bpf.c, kernel >= 6.5): before each run
 * of its socket iterators the controller fills sock_gone with the {backend, frontend} pairs a
 * sync removed; a TCP or connected UDP socket whose peer is such a backend, and that the
 * socket LB translated for that frontend (its sock_rev entry), is destroyed with
 * bpf_sock_destroy(). The map belongs to that object only (not pinned): it is empty between
 * runs.
 */
struct sock_gone_key {
	__be32 addr;    /* backend address (the socket's peer) */
	__be16 port;    /* backend port */
	__u8 proto;     /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad0;      /* must be 0 */
	__u32 svc_id;   /* frontend the socket connected to (sock_rev_value.svc_id) */
};

/* What the iterators write (bpf_seq_write) for every socket they destroyed. */
struct sock_destroyed {
	__u64 cookie;   /* the socket's cookie (also its sock_rev key) */
	__be32 addr;    /* backend address */
	__be16 port;    /* backend port */
	__u8 proto;     /* IPPROTO_* */
	__u8 pad0;      /* 0 */
	__u32 svc_id;   /* frontend id */
	__s32 err;      /* bpf_sock_destroy(): 0 or -errno */
};

/* ---- IPv6 twins. Same meaning as the v4 struct of the same name without the 6; addresses are
 * 16 bytes (__be32[4], network order). Values that hold no address (svc_value, affinity_value)
 * are shared with v4. ---- */
struct svc6_key {
	__be32 vip[4];  /* frontend address */
	__be16 dport;   /* frontend port */
	__u8 proto;     /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad0;      /* must be 0 */
	__u16 slot;     /* 0 = service entry, 1..count = backend slot */
	__u16 pad1;     /* must be 0 */
};

/* backends6: backend_id (__u32) → backend */
struct backend6_value {
	__be32 ip[4];   /* endpoint (pod) address */
	__be16 port;    /* endpoint port */
	__u8 proto;     /* IPPROTO_* */
	__u8 flags;     /* BE_F_* */
	__u32 sp_id;    /* owning service port */
};

/* rev_nat6: svc_id (__u32) → frontend */
struct rev_nat6_value {
	__be32 vip[4];  /* frontend address */
	__be16 port;    /* frontend port */
	__u16 pad0;     /* must be 0 */
};

/* conntrack6: keyed and used exactly as conntrack (one entry per direction, CT_F_REPLY). */
struct ct6_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad0;      /* must be 0 */
	__u16 pad1;     /* must be 0 */
};

struct ct6_value {
	__u64 expires;      /* as ct_value.expires */
	__u32 backend_id;
	__u32 svc_id;
	__be32 nat_addr[4]; /* forward: backend ip; reply: frontend vip */
	__be32 orig_addr[4];/* forward: SNAT source or ::; reply: client address to restore after SNAT, or :: */
	__be16 nat_port;
	__u16 flags;        /* CT_F_* (CT_F_TIMED always set: there is no older layout) */
	__be16 orig_port;
	__u16 pad0;         /* must be 0 */
};

/* affinity6: {svc_id, client} → affinity_value */
struct affinity6_key {
	__u32 svc_id;
	__be32 client[4];
};

/* lb6_config: ARRAY with one entry (key 0); SNAT ports come from lb_config's range. */
struct lb6_config {
	__be32 hairpin_addr[4]; /* SNAT source for hairpin; :: = hairpin disabled */
	__be32 snat_addr[4];    /* SNAT source for external/LB IPs → remote backends; :: = none */
	__be32 node_addr[4];    /* the node's primary IPv6 address; :: = unknown */
};

/* sock_rev6: the socket LB's record of a v6 translation (as sock_rev) */
struct sock_rev6_key {
	__u64 cookie;
	__be32 addr[4]; /* backend address */
	__be16 port;    /* backend port */
	__u16 pad0;     /* must be 0 */
	__u32 pad1;     /* must be 0 */
};

struct sock_rev6_value {
	__be32 vip[4];  /* frontend address */
	__be16 port;    /* frontend port */
	__u16 pad0;     /* must be 0 */
	__u32 svc_id;   /* frontend id */
};

/* sock_gone6 / sock_destroyed6: the same for IPv6 sockets (sock_destroy.bpf.c's _tcp6/_udp6
 * iterators; an IPv4-mapped peer on a dual-stack socket is matched by the IPv4 ones' maps). */
struct sock_gone6_key {
	__be32 addr[4]; /* backend address (the socket's peer) */
	__be16 port;    /* backend port */
	__u8 proto;     /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad0;      /* must be 0 */
	__u32 svc_id;   /* frontend the socket connected to (sock_rev6_value.svc_id) */
};

struct sock_destroyed6 {
	__u64 cookie;   /* the socket's cookie */
	__be32 addr[4]; /* backend address */
	__be16 port;    /* backend port */
	__u8 proto;     /* IPPROTO_* */
	__u8 pad0;      /* 0 */
	__u32 svc_id;   /* frontend id */
	__s32 err;      /* bpf_sock_destroy(): 0 or -errno */
	__u32 pad1;     /* 0 */
};

/* svc_meta: svc_id (__u32) → what the frontend is, for `bpfproxy inspect` and bpftool.
 * Control-plane only: no program reads it. */
#define BPFPROXY_SVC_NAME_LEN 248
#define SVC_KIND_CLUSTER_IP    1
#define SVC_KIND_EXTERNAL_IP   2
#define SVC_KIND_LOAD_BALANCER 3
#define SVC_KIND_NODE_PORT     4

struct svc_meta {
	char name[BPFPROXY_SVC_NAME_LEN]; /* ServicePortName ("ns/name" or "ns/name:port"), NUL padded */
	__u32 kind;                       /* SVC_KIND_* */
	__u32 pad0;                       /* must be 0 */
};

/* dp_stats: PERCPU_ARRAY of __u64 packet counts, one per STAT_* index (tc_lb and xdp_lb; a reader
 * sums the CPUs). Exported as bpfproxy_datapath_{packets,drops}_total, shown by inspect --stats. */
#define STAT_NEW               0  /* new flow: backend picked, tracked, DNATed */
#define STAT_ESTABLISHED       1  /* packet of a tracked forward flow */
#define STAT_REPLY             2  /* reply packet reverse-NATed */
#define STAT_REJECTED          3  /* frontend without endpoints: TCP RST / ICMP unreachable sent */
#define STAT_RESET             4  /* TCP segment to a frontend of no live flow (never tracked, over, or its backend left): RST sent */
#define STAT_DROP_NO_BACKEND   5  /* the picked slot names no backend (maps mid-update) */
#define STAT_DROP_NO_LOCAL_EP  6  /* externalTrafficPolicy Local, no endpoint on this node */
#define STAT_DROP_NAT          7  /* rewriting an address, port or checksum failed */
#define STAT_DROP_SNAT_PORTS   8  /* every SNAT port tried is taken towards that backend */
#define STAT_DROP_CT           9  /* writing the conntrack entries failed */
#define STAT_DROP_FIB          10 /* the TTL rewrite after the FIB lookup failed */
#define STAT_DROP_UNANSWERED   11 /* RST / ICMP answer not sent (never to an RST; or building it failed) */
#define STAT_ICMP_ERROR        12 /* ICMP error about a NATed flow: its quoted packet translated back */
#define STAT_DROP_SRC_RANGE    13 /* new flow to a LoadBalancer IP from a source outside its loadBalancerSourceRanges */
#define STAT_PASS_V6_EXTHDR    14 /* IPv6 packet with an extension header (fragment, options, routing): passed to the stack untranslated */
/* xdp_lb (the external interface's fast path) counts what it handled itself; what it passes
 * on is counted by tc_lb as before, and its drops under the reasons above. */
#define STAT_XDP_NEW           15 /* new flow picked, tracked, DNATed (+ SNAT) and sent on by XDP */
#define STAT_XDP_ESTABLISHED   16 /* packet of a tracked forward flow sent on by XDP */
#define BPFPROXY_STATS_MAX     32 /* room to grow: a pinned dp_stats of another size is replaced at load */

/* tc attach parameters the loader uses (one filter per interface, replaced in place). */
#define BPFPROXY_TC_HANDLE   0xb9f1
#define BPFPROXY_TC_PRIORITY 0xb9f

#endif /* BPFPROXY_ABI_H */
