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

# build/lib/libllminstr_read.so: the same reading and decoding as a library
# (llminstr_read.h) for the Python module; exports llmi_read_* only.
READ_LIB := $(LIB)/libllminstr_read.so
READ_LIB_OBJS = $(filter-out $(OBJ)/user/dump/main.o,$(DUMP_OBJS)) $(FORMAT_OBJS) $(IO_OBJS) \
		$(CODEC_OBJS) $(COMMON_OBJS)

$(READ_LIB): $(READ_LIB_OBJS) user/dump/libllminstr_read.map
	$(call msg,LIB,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libllminstr_read.so -Wl,-z,defs \
		-Wl,--version-script=user/dump/libllminstr_read.map -o $@ $(READ_LIB_OBJS) \
		$(CODEC_LIBS) $(COMMON_LIBS) -luring -lzstd -lelf -lpthread -lm

ALL += $(READ_LIB)
