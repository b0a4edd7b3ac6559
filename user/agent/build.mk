# user/agent: build rules (see the top Makefile for the shared variables).
#
#   build/lib/libllminstr.so   the in-process agent (llminstr.h); exports the
#                              llminstr_* API and nothing else
#   $(AGENT_RING_OBJS)         the shared ring and the capture spec, which the
#                              tracer links too (ring.h, spec.h)
#
# The library needs no CUDA headers or libraries to build: it finds the
# driver in the process at run time (cuda.c declares the few types it uses).

AGENT_RING_OBJS := $(OBJ)/user/agent/ring.o $(OBJ)/user/agent/spec.o
$(OBJ)/user/agent/%.o: CFLAGS += -fvisibility=hidden

UNIT_OBJS_test_ring = $(OBJ)/user/agent/ring.o
UNIT_OBJS_test_spec = $(OBJ)/user/agent/spec.o
