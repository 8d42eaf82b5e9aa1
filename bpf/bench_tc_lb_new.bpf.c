/* SPDX-License-Identifier: Apache-2.0 */
/* tc_lb built for bench/ebpf-prog: each test-run repetition takes the new-flow path. */
#define BPFPROXY_BENCH_NEW_FLOW 1
#include "tc_lb.bpf.c"
