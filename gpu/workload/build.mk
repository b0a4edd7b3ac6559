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
		-Wl,-rpath,'$$ORIGIN/../sim' -lm -lpthread -ldl

ALL += $(BIN)/llm_decode
endif

# The same host loop on NVIDIA's runtime. Kernels for Ampere and Hopper, plus
# PTX for anything newer.
ifneq ($(and $(NVCC),$(SIM_CUDA_INC)),)
NVCC_GENCODE ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
                -gencode arch=compute_90,code=compute_90
LLM_CUDA_OBJS := $(OBJ)/gpu/workload/llm_decode.o $(OBJ)/gpu/workload/kernels_cuda.o \
                 $(OBJ)/gpu/workload/gemv_fatbin.o

$(OBJ)/gpu/workload/kernels_cuda.o: gpu/workload/kernels.cu gpu/workload/kernels.h | $(DEPS_STAMP)
	$(call msg,NVCC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(NVCC) -O2 $(NVCC_GENCODE) -Igpu/workload -c $< -o $@

$(OBJ)/gpu/workload/gemv.fatbin: gpu/workload/gemv.cu gpu/workload/kernels.h | $(DEPS_STAMP)
	$(call msg,FATBIN,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(NVCC) --fatbin $(NVCC_GENCODE) $< -o $@

$(OBJ)/gpu/workload/gemv_fatbin.o: gpu/workload/gemv_fatbin.S $(OBJ)/gpu/workload/gemv.fatbin
	$(call msg,AS,$<)
	$(Q)$(CC) -c -DGEMV_FATBIN='"$(OBJ)/gpu/workload/gemv.fatbin"' $< -o $@

$(BIN)/llm_decode_cuda: $(LLM_CUDA_OBJS)
	$(call msg,NVLD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(NVCC) -cudart shared -o $@ $^ -L$(CUDA_HOME)/lib64/stubs -lcuda -lm -ldl

ALL += $(BIN)/llm_decode_cuda
endif
