# benchmarks/agent_calls: what the dormant agent costs a call, against an
# empty call into another shared object (build/bench/agent_calls).
AC_DIR := $(BENCH)/helpers
$(AC_DIR)/libagent_calls_empty.so: $(OBJ)/benchmarks/agent_calls/empty.o
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -o $@ $<

$(BENCH)/agent_calls: $(OBJ)/benchmarks/agent_calls/agent_calls.o $(OBJ)/user/common/json.o \
		$(AC_DIR)/libagent_calls_empty.so $(LIB)/libllminstr.so
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) -L$(AC_DIR) -lagent_calls_empty \
		-L$(LIB) -lllminstr -Wl,-rpath,'$$ORIGIN/helpers:$$ORIGIN/../lib' -lm

BENCH_BINS += $(BENCH)/agent_calls
