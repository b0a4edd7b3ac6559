# user/io: the io_uring extent writer and the container writer on top of it.
# Users link $(IO_OBJS) $(FORMAT_OBJS) and liburing (in $(TOOL_LIBS)).
IO_SRCS := user/io/iow.c user/io/writer.c
IO_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(IO_SRCS))

UNIT_OBJS_test_io = $(IO_OBJS) $(FORMAT_OBJS)
UNIT_OBJS_test_io_enospc = $(IO_OBJS) $(FORMAT_OBJS)
