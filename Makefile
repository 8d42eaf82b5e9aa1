# bpfproxy — make demo | make test | make conformance [BACKEND=…] | make cluster | make fresh-check | make vm-test CMD="…"
BACKEND ?= ebpf
# `make conformance` runs every backend unless BACKEND is given explicitly.
CONFORMANCE_BACKEND := $(if $(filter command line environment,$(origin BACKEND)),$(BACKEND),all)
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

include bpf/bpf.mk

.PHONY: setup build ts native demo test cluster conformance vm-test bench bench-guest fresh-check clean

## setup: install Debian packages and npm dependencies, then build everything
setup:
	@scripts/setup.sh

## build: TypeScript → dist/, bpf/*.bpf.c → bpf/.output/, libbpf addon → build/Release/
build: ts bpf native

ts:
	tsc -p tsconfig.json

native: build/Release/bpfproxy_native.node

# Build against the running node's own headers (<prefix>/include/node): no download.
NODEDIR ?= $(shell node -p "require('path').resolve(process.execPath, '../..')")
build/Release/bpfproxy_native.node: binding.gyp $(wildcard native/*.cc native/*.h) bpf/include/abi.h
	node-gyp rebuild --loglevel=warn --nodedir=$(NODEDIR)

## demo: the seed example end to end in throwaway network namespaces
demo: setup
	tsx scripts/demo.ts --backend=$(BACKEND)

## test: the whole suite (unit, kernel, conformance for every backend on the host kernel,
## then the guest-kernel phase: IPVS, and ebpf/iptables again, in Debian's kernel under qemu)
# Two vitest runs: qemu keeps both cores busy, so it does not run beside the host's
# timing-sensitive network tests. One closing line sums both.
# The bench smoke test (make bench QUICK=1, files checked, not numbers) runs on its own
# between them: its load would disturb the host's network tests and slow the guest.
GUEST_TESTS = test/conformance/guest-kernel.test.ts test/vm/guest.test.ts
BENCH_TESTS = test/bench/quick-bench.test.ts
test: setup cluster
	@scripts/vm/install.sh >/dev/null || echo "make test: could not install the guest-kernel packages (the guest tests will say why)"
	@vitest run $(foreach f,$(GUEST_TESTS) $(BENCH_TESTS),--exclude $(f)) --reporter=default --reporter=json --outputFile=.vitest-results.json; a=$$?; \
	  vitest run $(BENCH_TESTS) --reporter=default --reporter=json --outputFile=.vitest-bench-results.json; c=$$?; \
	  vitest run $(GUEST_TESTS) --reporter=default --reporter=json --outputFile=.vitest-guest-results.json; b=$$?; \
	  node scripts/test-summary.mjs .vitest-results.json .vitest-bench-results.json .vitest-guest-results.json; s=$$?; \
	  [ $$a -eq 0 ] && [ $$b -eq 0 ] && [ $$c -eq 0 ] && [ $$s -eq 0 ]

## cluster: build the real etcd and kube-apiserver the cluster tests run against (cached; Go >= 1.26)
# A failed build does not stop `make test`: the cluster tests then say why (and fail in CI).
cluster:
	@scripts/cluster/build.sh >/dev/null || echo "make test: could not build the test cluster (the cluster tests will say why)"

## conformance: the shared suite for one backend (or all, both kernels) and the case × backend × kernel matrix
# ipvs and kube-proxy-ipvs only run in the guest kernel (guest-kernel.test.ts boots it);
# `make conformance` without BACKEND runs every backend on the host and in the guest.
CONFORMANCE_RUN = $(if $(filter all,$(CONFORMANCE_BACKEND)),vitest run test/conformance,\
  $(if $(filter ipvs kube-proxy-ipvs,$(CONFORMANCE_BACKEND)),BPFPROXY_GUEST_BACKENDS=$(subst kube-proxy-,kube-proxy/,$(CONFORMANCE_BACKEND)) vitest run test/conformance/guest-kernel.test.ts,\
  vitest run test/conformance/$(CONFORMANCE_BACKEND)))
conformance: setup cluster
	@rm -rf .conformance
	$(CONFORMANCE_RUN) ; rc=$$?; $(if $(filter kube-proxy-ipvs,$(CONFORMANCE_BACKEND)),tsx scripts/record-reference.ts || rc=1;) \
	  tsx scripts/conformance-matrix.ts $(if $(filter all,$(CONFORMANCE_BACKEND)),--write); s=$$?; [ $$rc -eq 0 ] && [ $$s -eq 0 ]

## fresh-check: `make demo` in a minimal Debian 12 root (debootstrap minbase, cached), on this kernel
fresh-check:
	@scripts/fresh-check.sh

## vm-test: run CMD inside Debian's kernel under qemu (IPVS, dummy; see README)
vm-test:
	scripts/vm/run.sh $(CMD)

## bench: every proxy side by side with real load tools (bench/run.ts, ≤ 25 min): writes
## bench/results/<date>-<machine>.json and docs/perf/. QUICK=1: a ≈ 2 min smoke run into .bench-quick/.
## The single-purpose scripts (bench/control-plane.ts, cluster-scale.ts,
## conntrack-churn.ts, iptables-sync.ts, dns.ts) still run on their own with tsx.
bench: setup cluster
	tsx bench/run.ts $(if $(QUICK),--quick --out .bench-quick)

## bench-guest: no proxy, bpfproxy ipvs and kube-proxy ipvs at 1 and 1k services, inside the 6.1
## guest under qemu TCG (this kernel has no IPVS): bench/results/<date>-<machine>-guest-ipvs.json
## and docs/perf/guest-ipvs.md, a page of its own (emulated CPUs: never compared with the host's).
bench-guest: setup cluster
	rm -rf .bench-guest && mkdir -p .bench-guest
	BPFPROXY_VM_RW_DIR=$(CURDIR)/.bench-guest BPFPROXY_VM_TIMEOUT=3600 scripts/vm/run.sh tsx bench/run.ts --guest --out $(CURDIR)/.bench-guest
	f=$$(ls .bench-guest/results/*-guest-ipvs.json) && cp $$f bench/results/ && tsx bench/render.ts bench/results/$$(basename $$f)

clean: bpf-clean
	rm -rf dist build .conformance
