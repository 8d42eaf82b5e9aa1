# bpf.mk — include from the top-level Makefile: builds bpf/*.bpf.c → bpf/.output/*.bpf.o
BPF_DIR      ?= bpf
BPF_OUT      := $(BPF_DIR)/.output
BPF_CLANG    ?= clang
BPF_ARCH_INC := /usr/include/$(shell uname -m)-linux-gnu
BPF_CFLAGS   ?= -O2 -g -Wall -Werror -target bpf -I$(BPF_ARCH_INC) -I$(BPF_DIR)
BPF_SRCS     := $(wildcard $(BPF_DIR)/*.bpf.c)
BPF_OBJS     := $(patsubst $(BPF_DIR)/%.bpf.c,$(BPF_OUT)/%.bpf.o,$(BPF_SRCS))
BPF_HDRS     := $(wildcard $(BPF_DIR)/include/*.h $(BPF_DIR)/lib/*.h)

.PHONY: bpf bpf-clean
bpf: $(BPF_OBJS)

$(BPF_OUT)/%.bpf.o: $(BPF_DIR)/%.bpf.c $(BPF_HDRS) | $(BPF_OUT)
	$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_OUT):
	mkdir -p $@

bpf-clean:
	rm -rf $(BPF_OUT)
