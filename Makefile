# llminstr — everything builds from here.
#
#   make            tools, stand-in runtime, workload, benchmarks (build/)
#   make test       build, then run unit, end-to-end and fuzz tests on the
#                   tree built with ASan and UBSan (build/san-address-undefined)
#   make test SAN=undefined   the same with other sanitizers; SAN=none: the
#                   suite on the plain build/
#   make fuzz       each fuzz target for FUZZ_SECONDS (default 600)
#   make bench      build, then run every benchmark (scripts/run_benchmarks.sh)
#   make demo       trace the built-in workload on the stand-in runtime
#   make static     rebuild with the tools fully static, to carry
#                   to a machine with no -dev packages (GPU hosts)
#   V=1             show every command
#
# Each part of the tree owns a fragment (*/build.mk) that appends its outputs
# to ALL, TEST_BINS, BENCH_BINS and FUZZ_BINS and writes its own rules; this
# file holds only what they share. Every output lands under build/.
#
# SAN=LIST (e.g. address,undefined) builds the same tree with those
# sanitizers into build/san-LIST/, leaving the plain build/ as it is; make
# test sets it by default (TEST_SAN). Everything compiled with $(CC) is
# instrumented: tools, stand-in runtime, workload, unit tests, benchmarks.
# What nvcc builds is left out there (its host compiler links without the
# sanitizer runtime; it runs only on a GPU machine anyway). A report fails
# the process (-fno-sanitize-recover), and tests/run.sh fails any test in
# which a process wrote one.

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

comma := ,
SAN_GIVEN := $(filter-out undefined,$(origin SAN))
SAN ?=
ifeq ($(SAN),none)
override SAN :=
endif
ifeq ($(SAN),)
BUILD   := build
else
BUILD   := build/san-$(subst $(comma),-,$(SAN))
SAN_FLAGS := -fsanitize=$(SAN) -fno-sanitize-recover=all -fno-omit-frame-pointer
ifeq ($(STATIC),1)
$(error SAN=$(SAN): sanitizers need their shared runtime; no STATIC=1)
endif
endif
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
CUDA_HOME := $(CUDA_HOME)
ifneq ($(SAN),)
override NVCC :=
endif
ARCH    := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

# make static: no shared library at all where the binary allows it.
STATIC ?= 0

CPPFLAGS := -D_GNU_SOURCE -Iuser -Ibpf -I$(GEN) -MMD -MP
CFLAGS   := -std=gnu11 -O2 -g -fPIC -Wall -Wextra -Wno-unused-parameter \
            -Werror=implicit-function-declaration $(SAN_FLAGS) $(EXTRA_CFLAGS)
LDFLAGS  := $(SAN_FLAGS) $(EXTRA_LDFLAGS)

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

.PHONY: all test test-build fuzz bench demo static clean deps
all: $(ALL) $(TEST_BINS) $(BENCH_BINS)

deps: $(DEPS_STAMP)

# make test: the plain tree is built (what users run), then the suite runs on
# the tree built with TEST_SAN; make test SAN=... runs it on that tree alone
# (SAN=none: the plain tree). TESTS=WORD runs the tests whose name has WORD.
TEST_SAN ?= address,undefined
test-build: all $(FUZZ_BINS)

ifeq ($(SAN_GIVEN),)
test: all
	$(Q)$(MAKE) SAN=$(or $(TEST_SAN),none) test
else
test: test-build
	$(Q)LLMI_BUILD=$(BUILD) LLMI_SAN=$(SAN) ./tests/run.sh $(TESTS)
endif

# Long fuzzing: each target for FUZZ_SECONDS over its corpus; a crash is
# kept under $(BUILD)/tests/fuzz-crashes/ (commit it to tests/fuzz/regress/).
FUZZ_SECONDS ?= 600
fuzz: $(FUZZ_BINS)
	$(Q)LLMI_BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/run.sh --fuzz-only $(TESTS)

bench: all
	$(Q)./scripts/run_benchmarks.sh

demo: all
	$(Q)./scripts/demo.sh

static:
	$(Q)$(MAKE) -B STATIC=1 all

clean:
	$(call msg,CLEAN,build)
	$(Q)rm -rf build

# Dependency files of this tree only (the sanitized trees live under build/).
-include $(shell find $(BUILD) -path '$(BUILD)/san-*' -prune -o -name '*.d' -print 2>/dev/null)
