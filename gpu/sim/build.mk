# gpu/sim: the CPU stand-in CUDA runtime (build/sim/libcudart.so.13) and driver
# (build/sim/libcuda.so.1). Compiled against the toolkit's own headers so the
# types and names are NVIDIA's; without them the stand-in is not built.
SIM_CUDA_INC := $(patsubst %/cuda_runtime_api.h,%,$(firstword $(wildcard \
	$(CUDA_HOME)/include/cuda_runtime_api.h /usr/local/cuda/include/cuda_runtime_api.h \
	/usr/include/cuda_runtime_api.h)))

ifeq ($(SIM_CUDA_INC),)
$(warning gpu/sim: no cuda_runtime_api.h (CUDA toolkit headers); the stand-in runtime and llm_decode are not built)
else
SIM_CPPFLAGS := -I$(SIM_CUDA_INC) -Igpu/sim
$(OBJ)/gpu/%.o: CPPFLAGS += $(SIM_CPPFLAGS)
$(OBJ)/tests/unit/test_sim.o $(OBJ)/tests/unit/test_sim_%.o: CPPFLAGS += $(SIM_CPPFLAGS)
# Only the CUDA names leave the libraries (plus the engine table).
$(OBJ)/gpu/sim/%.o: CFLAGS += -fvisibility=hidden
# Entry points open with push %rbp, as NVIDIA's libcudart.so.13 does: the
# kernel emulates a probed push, while a probed "sub $n,%rsp" (what -O2
# emits otherwise) is single-stepped out of line, ~20x dearer in a VM, which
# would make every uprobe on the stand-in cost what it never costs on CUDA.
$(OBJ)/gpu/sim/%.o: CFLAGS += -fno-omit-frame-pointer

SIM_LIBCUDA   := $(SIM)/libcuda.so.1
SIM_LIBCUDART := $(SIM)/libcudart.so.13

$(SIM_LIBCUDA): $(OBJ)/gpu/sim/core.o $(OBJ)/gpu/sim/driver.o gpu/sim/libcuda.map
	$(call msg,LIB,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libcuda.so.1 -Wl,-z,defs \
		-Wl,--version-script=gpu/sim/libcuda.map -o $@ $(filter %.o,$^) -lpthread

$(SIM_LIBCUDART): $(OBJ)/gpu/sim/runtime.o gpu/sim/libcudart.map
	$(call msg,LIB,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libcudart.so.13 -Wl,-z,defs \
		-Wl,--version-script=gpu/sim/libcudart.map -o $@ $(filter %.o,$^) -ldl -lpthread

ALL += $(SIM_LIBCUDA) $(SIM_LIBCUDART)

# Programs that run on the stand-in link both and find them next to themselves.
SIM_LINK := -L$(SIM) -l:libcudart.so.13 -l:libcuda.so.1
endif

# tests/unit/test_sim runs on the stand-in libraries, found by rpath.
ifneq ($(SIM_CUDA_INC),)
UNIT_OBJS_test_sim := $(SIM_LIBCUDART) $(SIM_LIBCUDA)
UNIT_LIBS_test_sim = -Wl,-rpath,'$$ORIGIN/../../sim' -lpthread
endif

# tests/unit/test_agent_cuda: the agent's device path on the stand-in driver,
# linked (so that the agent finds libcuda.so.1 loaded) with the agent.
ifneq ($(SIM_CUDA_INC),)
$(OBJ)/tests/unit/test_agent_cuda.o: CPPFLAGS += $(SIM_CPPFLAGS)
UNIT_OBJS_test_agent_cuda = $(AGENT_TEST_LINK) $(SIM_LIBCUDART) $(SIM_LIBCUDA)
UNIT_LIBS_test_agent_cuda = $(AGENT_TEST_RPATH) -Wl,-rpath,'$$ORIGIN/../../sim' -lpthread
else
UNIT_OBJS_test_agent_cuda = $(AGENT_TEST_LINK)
UNIT_LIBS_test_agent_cuda = $(AGENT_TEST_RPATH) -lpthread
endif
