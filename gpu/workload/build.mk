# gpu/workload: llm_decode, the transformer decode loop (see llm_decode.c).
#   build/bin/llm_decode       on the CPU stand-in (finds build/sim by rpath)
#   build/bin/llm_decode_cuda  the same host loop with kernels.cu, NVIDIA's
#                              runtime (nvcc -cudart shared); runs on a GPU
ifneq ($(SIM_CUDA_INC),)
LLM_DECODE_OBJS := $(OBJ)/gpu/workload/llm_decode.o $(OBJ)/gpu/workload/kernels_sim.o

$(BIN)/llm_decode: $(LLM_DECODE_OBJS) $(SIM_LIBCUDART) $(SIM_LIBCUDA)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(LLM_DECODE_OBJS) $(SIM_LINK) \
		-Wl,-rpath,'$$ORIGIN/../sim' -lm -lpthread

ALL += $(BIN)/llm_decode
endif
