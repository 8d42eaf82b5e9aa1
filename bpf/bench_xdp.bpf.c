/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Programs of bench/xdp-pps.ts only (not loaded by the proxy):
 *   xdp_gen   the load generator, run with BPF_F_TEST_XDP_LIVE_FRAMES on the generator's
 *             veth: writes the frame's headers from gen_tmpl and transmits it (XDP_TX). The
 *             headers are written on every run because live-frame pages are recycled with
 *             whatever the receiver did to them (the node's NAT rewrites them in place).
 *   tc_sink   tc ingress of the backend pod's veth: counts what arrives and drops it. At tc,
 *             not XDP, so that both paths deliver the same thing, an skb at the pod (an XDP
 *             sink would see redirected frames as they are but have to copy tc's skbs).
 *   xdp_sink  the "wire" towards a backend on another node (the generator's veth): counts
 *             the frames that left the node and drops them, as another machine's NIC would
 *             take them off the wire without this node paying for it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define BENCH_HDR_LEN 42 /* Ethernet + IPv4 (no options) + UDP */

struct bench_tmpl {
	__u8 hdr[BENCH_HDR_LEN];
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_tmpl);
} gen_tmpl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct bench_tmpl *t = bpf_map_lookup_elem(&gen_tmpl, &zero);

	if (!t || data + BENCH_HDR_LEN > data_end)
		return XDP_DROP;
	__builtin_memcpy(data, t->hdr, BENCH_HDR_LEN);
	return XDP_TX;
}

SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&sink_count, &zero);

	if (n)
		*n += 1;
	return XDP_DROP;
}

SEC("tc")
int tc_sink(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&sink_count, &zero);

	if (n)
		*n += 1;
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
