# benchmarks/read_dataset: reading activations back into torch per core,
# llminstr.open() against a raw numpy.memmap, and export speed
# (build/bench/read_dataset, a Python script: python3-torch and numpy).
$(BENCH)/read_dataset: benchmarks/read_dataset/read_dataset.py $(LIB)/libllminstr_read.so
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)install -m 755 $< $@

BENCH_BINS += $(BENCH)/read_dataset
