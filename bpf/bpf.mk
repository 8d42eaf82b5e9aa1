# bpf.mk — include from the top-level Makefile: builds bpf/*.bpf.c → bpf/.output/*.bpf.o
BPF_DIR      ?= bpf
BPF_OUT      := $(BPF_DIR)/.output
BPF_CLANG    ?= clang
# `-target bpf` has no system include path of its own (no <asm/…> for this machine's
# architecture): ask the same clang for the directories it searches when it builds for the
# host, and append them with -idirafter, so our headers and the UAPI ones win. Nothing is
# hard-coded, and the BPF sources include kernel UAPI headers only (test/bpf/headers.test.ts).
BPF_SYS_INC  := $(shell $(BPF_CLANG) -v -E -x c /dev/null -o /dev/null 2>&1 | awk '/^End of search list/ {p=0} p {print "-idirafter " $$1} /^\#include <...> search starts here/ {p=1}')
BPF_CFLAGS   ?= -O2 -g -Wall -Werror -target bpf -I$(BPF_DIR) $(BPF_SYS_INC)
BPF_SRCS     := $(wildcard $(BPF_DIR)/*.bpf.c)
BPF_OBJS     := $(patsubst $(BPF_DIR)/%.bpf.c,$(BPF_OUT)/%.bpf.o,$(BPF_SRCS))
BPF_HDRS     := $(wildcard $(BPF_DIR)/include/*.h $(BPF_DIR)/lib/*.h)

.PHONY: bpf bpf-clean bpf-cflags
bpf: $(BPF_OBJS)

$(BPF_OUT)/%.bpf.o: $(BPF_DIR)/%.bpf.c $(BPF_HDRS) | $(BPF_OUT)
	$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OUT):
	mkdir -p $@

# The exact flags the objects are built with (the header test compiles with them).
bpf-cflags:
	@echo $(BPF_CFLAGS)

bpf-clean:
	rm -rf $(BPF_OUT)
