# user/io: the io_uring extent writer, the container writer on top of it, and
# the safe creation of every output file (outfile.c).
# Users link $(IO_OBJS) $(FORMAT_OBJS) and liburing (in $(TOOL_LIBS)).
IO_SRCS := user/io/iow.c user/io/outfile.c user/io/writer.c
IO_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(IO_SRCS))

UNIT_OBJS_test_io = $(IO_OBJS) $(FORMAT_OBJS)
UNIT_OBJS_test_io_enospc = $(IO_OBJS) $(FORMAT_OBJS)
UNIT_OBJS_test_outfile = $(OBJ)/user/io/outfile.o
UNIT_OBJS_test_writer_thread = $(IO_OBJS) $(FORMAT_OBJS)
UNIT_OBJS_test_writer_res = $(IO_OBJS) $(FORMAT_OBJS)
