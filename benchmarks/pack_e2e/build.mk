# benchmarks/pack_e2e: llminstr-dump pack end to end against zstd -1, one
# CPU each, warm and (as root) cold page cache (build/bench/pack_e2e). It
# runs the built build/bin/llminstr-dump.
PE_BIN := $(BENCH)/pack_e2e

$(PE_BIN): $(OBJ)/benchmarks/pack_e2e/pack_e2e.o $(OBJ)/user/common/json.o | $(BIN)/llminstr-dump
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lzstd -lm

BENCH_BINS += $(PE_BIN)
