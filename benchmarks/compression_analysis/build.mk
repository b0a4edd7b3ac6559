# benchmarks/compression_analysis: the codec against zstd, lz4, blosc,
# truncation and block packing (build/bench/compression_analysis).

CA_OBJS := $(OBJ)/benchmarks/compression_analysis/compression_analysis.o $(CODEC_OBJS)

$(BENCH)/compression_analysis: $(CA_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CODEC_LIBS) -lzstd -llz4 -lblosc -lm

BENCH_BINS += $(BENCH)/compression_analysis
