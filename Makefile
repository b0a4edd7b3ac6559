# llminstr — everything builds from here.
#
#   make            tools, stand-in runtime, workload, benchmarks (build/)
#   make test       build, then run unit, end-to-end and fuzz tests
#   make bench      build, then run every benchmark (scripts/run_benchmarks.sh)
#   make demo       trace the built-in workload on the stand-in runtime
#   make static     rebuild with the tools fully static, to carry
#                   to a machine with no -dev packages (GPU hosts)
#   V=1             show every command
#
# Each part of the tree owns a fragment (*/build.mk) that appends its outputs
# to ALL, TEST_BINS, BENCH_BINS and FUZZ_BINS and writes its own rules; this
# file holds only what they share. Every output lands under build/.

.DELETE_ON_ERROR:
# Keep objects that only chained rules use (unit-test objects): no rebuilds.
.SECONDARY:
.SUFFIXES:
.DEFAULT_GOAL := all

V ?= 0
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' '$(1)' '$(2)'
MAKEFLAGS += --no-print-directory
endif

BUILD   := build
OBJ     := $(BUILD)/obj
GEN     := $(BUILD)/gen
BIN     := $(BUILD)/bin
LIB     := $(BUILD)/lib
SIM     := $(BUILD)/sim
BENCH   := $(BUILD)/bench
TESTBIN := $(BUILD)/tests

CC      ?= cc
CLANG   ?= clang
BPFTOOL ?= bpftool
NVCC    ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
ARCH    := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

# make static: no shared library at all where the binary allows it.
STATIC ?= 0

CPPFLAGS := -D_GNU_SOURCE -Iuser -Ibpf -I$(GEN) -MMD -MP
CFLAGS   := -std=gnu11 -O2 -g -fPIC -Wall -Wextra -Wno-unused-parameter \
            -Werror=implicit-function-declaration $(EXTRA_CFLAGS)
LDFLAGS  := $(EXTRA_LDFLAGS)

# Libraries the tools link statically by default, so build/bin runs on a
# machine that has none of their -dev packages.
STATIC_LIBS := -Wl,-Bstatic -lbpf -lelf -lz -lzstd -luring -Wl,-Bdynamic
SYS_LIBS    := -lpthread -lm -ldl
ifeq ($(STATIC),1)
TOOL_LDFLAGS := -static
TOOL_LIBS    := -lbpf -lelf -lz -lzstd -luring -lpthread -lm
else
TOOL_LDFLAGS :=
TOOL_LIBS    := $(STATIC_LIBS) $(SYS_LIBS)
endif

ALL        :=
TEST_BINS  :=
BENCH_BINS :=
FUZZ_BINS  :=

# Packages are installed once per machine; a stamp keeps make from asking dpkg
# on every build.
DEPS_STAMP := $(BUILD)/.deps-ok
$(DEPS_STAMP): scripts/install-deps.sh
	$(call msg,DEPS,install-deps.sh)
	$(Q)./scripts/install-deps.sh
	$(Q)mkdir -p $(@D) && touch $@

# Generic C object rule: build/obj/<path>.o from <path>.c.
$(OBJ)/%.o: %.c | $(DEPS_STAMP)
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

include vmlinux/build.mk
include bpf/build.mk
include user/common/build.mk
include user/codec/build.mk
include user/format/build.mk
include user/io/build.mk
include user/trace/build.mk
include user/dump/build.mk
include user/agent/build.mk
include gpu/sim/build.mk
include gpu/workload/build.mk
include gpu/codec/build.mk
include benchmarks/build.mk
include tests/build.mk

.PHONY: all test bench demo static clean deps
all: $(ALL) $(TEST_BINS) $(BENCH_BINS)

deps: $(DEPS_STAMP)

test: all $(FUZZ_BINS)
	$(Q)./tests/run.sh

bench: all
	$(Q)./scripts/run_benchmarks.sh

demo: all
	$(Q)./scripts/demo.sh

static:
	$(Q)$(MAKE) -B STATIC=1 all

clean:
	$(call msg,CLEAN,$(BUILD))
	$(Q)rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
