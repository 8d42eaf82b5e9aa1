/* SPDX-License-Identifier: Apache-2.0 */
/* Baseline for bench/ebpf-prog: the cost of BPF_PROG_TEST_RUN itself. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int bench_pass(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
