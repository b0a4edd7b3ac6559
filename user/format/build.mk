# user/format: the .llmi layout, CRC32C and the reader. Needs nothing else of
# the project, so the fuzzer and every tool can link it alone.
FORMAT_SRCS := user/format/crc32c.c user/format/format.c user/format/reader.c
FORMAT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(FORMAT_SRCS))

# The container tests make their files with the real writer (user/io).
UNIT_OBJS_test_format = $(FORMAT_OBJS) $(IO_OBJS)

# The reader's fuzz target decodes tensors too, so it links the codec. Its
# own rule: the generic one in tests/build.mk passes FUZZ_OBJS through
# uninstrumented (make substitutes the stem for the % of its patsubst), so
# the reader objects are named here in their instrumented build. The codec
# objects are the plain ones (the codec has its own fuzz target).
FUZZ_READER_OBJS := $(patsubst $(OBJ)/%,$(OBJ)/fuzz/%,$(FORMAT_OBJS))
$(TESTBIN)/fuzz/fuzz_reader: $(OBJ)/fuzz/tests/fuzz/fuzz_reader.o $(FUZZ_READER_OBJS) $(CODEC_OBJS)
	$(call msg,LD-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(CODEC_LIBS) -lzstd -lpthread -lm
