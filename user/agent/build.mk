# user/agent: build rules (see the top Makefile for the shared variables).
#
#   build/lib/libllminstr.so   the in-process agent (llminstr.h); exports the
#                              llminstr_* API and nothing else
#   $(AGENT_RING_OBJS)         the shared ring and the capture spec, which the
#                              tracer links too (ring.h, spec.h)
#
# The library needs no CUDA headers or libraries to build: it finds the
# driver in the process at run time (cuda.c declares the few types it uses).

AGENT_SRCS := user/agent/agent.c user/agent/capture.c user/agent/cuda.c \
              user/agent/ring.c user/agent/spec.c
AGENT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(AGENT_SRCS))
AGENT_RING_OBJS := $(OBJ)/user/agent/ring.o $(OBJ)/user/agent/spec.o
AGENT_LIB := $(LIB)/libllminstr.so

# Only what llminstr.h declares leaves the library (the version script says
# so too); the ring and spec objects linked into the tracer are unaffected.
$(OBJ)/user/agent/%.o: CFLAGS += -fvisibility=hidden

$(AGENT_LIB): $(AGENT_OBJS) user/agent/libllminstr.map
	$(call msg,LIB,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libllminstr.so -Wl,-z,defs \
		-Wl,--version-script=user/agent/libllminstr.map -o $@ $(AGENT_OBJS) -ldl -lpthread

ALL += $(AGENT_LIB)

UNIT_OBJS_test_ring = $(OBJ)/user/agent/ring.o
UNIT_OBJS_test_spec = $(OBJ)/user/agent/spec.o

# Every driver call of cuda.c is a real call from inside the library (no
# tail jump), so that a probe's return address tells the agent's calls from
# the program's (cuda.c says which they are).
$(OBJ)/user/agent/cuda.o: CFLAGS += -fno-optimize-sibling-calls

# Unit tests of the agent: they link the library (its listener runs in the
# test process) and the ring and spec objects (for the tracer's side).
AGENT_TEST_LINK = $(AGENT_LIB) $(AGENT_RING_OBJS)
AGENT_TEST_RPATH = -Wl,-rpath,'$$ORIGIN/../../lib'
UNIT_OBJS_test_agent = $(AGENT_TEST_LINK)
UNIT_LIBS_test_agent = $(AGENT_TEST_RPATH) -lpthread
UNIT_OBJS_test_agent_cred = $(AGENT_TEST_LINK)
UNIT_LIBS_test_agent_cred = $(AGENT_TEST_RPATH) -lpthread

# test_agent_cuda (the device path on the stand-in driver) is built by
# gpu/sim/build.mk, which knows where the CUDA headers are.
