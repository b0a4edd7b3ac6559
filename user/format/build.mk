# user/format: the .llmi layout, CRC32C and the reader. Needs nothing else of
# the project, so the fuzzer and every tool can link it alone.
FORMAT_SRCS := user/format/crc32c.c user/format/format.c user/format/reader.c
FORMAT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(FORMAT_SRCS))

# The container tests make their files with the real writer (user/io).
UNIT_OBJS_test_format = $(FORMAT_OBJS) $(IO_OBJS)

# The reader's fuzz target decodes tensors too, so it links the codec; both
# are built with the fuzzer's instrumentation (tests/build.mk), so ASan and
# UBSan see codec bugs reached through the reader.
FUZZ_OBJS_fuzz_reader := $(FORMAT_OBJS) $(CODEC_OBJS)
FUZZ_LIBS_fuzz_reader := $(CODEC_LIBS)
