# user/dump: llminstr-dump, the reader tool (build/bin/llminstr-dump).
DUMP_SRCS := $(wildcard user/dump/*.c)
DUMP_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(DUMP_SRCS))

ALL += $(BIN)/llminstr-dump

$(BIN)/llminstr-dump: $(DUMP_OBJS) $(FORMAT_OBJS) $(IO_OBJS) $(CODEC_OBJS) $(COMMON_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TOOL_LDFLAGS) $(LDFLAGS) -o $@ $^ $(CODEC_LIBS) $(COMMON_LIBS) $(TOOL_LIBS)

# The unit test drives the subcommands themselves: everything but main().
UNIT_OBJS_test_dump = $(filter-out $(OBJ)/user/dump/main.o,$(DUMP_OBJS)) $(FORMAT_OBJS) $(IO_OBJS) \
		      $(CODEC_OBJS) $(COMMON_OBJS)
UNIT_LIBS_test_dump = $(CODEC_LIBS) $(COMMON_LIBS)
