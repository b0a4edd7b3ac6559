# benchmarks/io_writer: the container writer's throughput per backend and
# what its commit interval costs (build/bench/io_writer).
IOW_BENCH_OBJS := $(OBJ)/benchmarks/io_writer/io_writer.o $(IO_OBJS) $(FORMAT_OBJS) \
                  $(OBJ)/user/common/json.o

$(BENCH)/io_writer: $(IOW_BENCH_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) $(TOOL_LDFLAGS) -o $@ $^ $(TOOL_LIBS)

BENCH_BINS += $(BENCH)/io_writer
