# bpf/: one *.bpf.c per concern -> build/obj/bpf/X.bpf.o -> build/gen/X.skel.h.
# A user-space object that includes "X.skel.h" must list it as a prerequisite
# (see user/trace/build.mk); -MMD then tracks the headers it pulls in.
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OBJ)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(GEN)/%.skel.h,$(BPF_SRCS))

# The system's arch include directory comes last (-idirafter), as in
# libbpf-bootstrap: libbpf's usdt.bpf.h includes <linux/errno.h>, whose
# <asm/errno.h> lives there; vmlinux.h still defines every kernel type.
BPF_SYS_INCLUDES := $(addprefix -idirafter ,$(wildcard /usr/include/$(shell $(CC) -print-multiarch 2>/dev/null)))
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux/$(ARCH) -Ibpf \
              -Wall -Wno-unused-function -MMD -MP $(BPF_SYS_INCLUDES)

$(OBJ)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX_H) | $(DEPS_STAMP)
	$(call msg,BPF,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)llvm-strip -g $@ 2>/dev/null || true

$(GEN)/%.skel.h: $(OBJ)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# The unit test of what this directory shares with user space: the table of
# probed APIs (LLMI_API_LIST, completed in user/trace/api.c).
UNIT_OBJS_test_trace_api = $(OBJ)/user/trace/api.o

# User-space objects that include the skeleton, besides the loader's (which
# user/trace/build.mk lists).
$(OBJ)/user/trace/probes.o $(OBJ)/tests/unit/test_trace_probes.o: $(GEN)/llminstr_trace.skel.h

# test_trace_probes loads the program and fires its probes on functions of
# its own (root; exits 77 without).
UNIT_OBJS_test_trace_probes = $(OBJ)/user/trace/probes.o $(OBJ)/user/trace/api.o
