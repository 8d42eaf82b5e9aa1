# bpfproxy — make demo | make test | make conformance [BACKEND=…] | make vm-test CMD="…"
BACKEND ?= ebpf
# `make conformance` runs every backend unless BACKEND is given explicitly.
CONFORMANCE_BACKEND := $(if $(filter command line environment,$(origin BACKEND)),$(BACKEND),all)
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

include bpf/bpf.mk

.PHONY: setup build ts native demo test conformance vm-test bench clean

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

## test: the whole suite (unit, kernel, conformance for every backend, IPVS in the guest kernel)
test: setup
	@vitest run --reporter=default --reporter=json --outputFile=.vitest-results.json; rc=$$?; \
	  node scripts/test-summary.mjs .vitest-results.json; s=$$?; [ $$rc -eq 0 ] && [ $$s -eq 0 ]

## conformance: the shared suite for one backend (or all) and the case × backend matrix
conformance: setup
	@rm -rf .conformance
	vitest run $(if $(filter-out all,$(CONFORMANCE_BACKEND)),test/conformance/$(CONFORMANCE_BACKEND).test.ts,test/conformance) ; rc=$$?; \
	  tsx scripts/conformance-matrix.ts; exit $$rc

## vm-test: run CMD inside Debian's kernel under qemu (IPVS, dummy; see README)
vm-test:
	scripts/vm/run.sh $(CMD)

## bench: performance, as ratios from one run (see bench/*.ts)
bench: setup
	tsx bench/ebpf-prog.ts
	tsx bench/iptables-sync.ts
	tsx bench/dataplane.ts

clean: bpf-clean
	rm -rf dist build .conformance
