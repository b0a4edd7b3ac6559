# gpu/codec: the CUDA half of the codec. build/bin/llmi_gpu_quant_check
# compares the kernel's quantisation codes with the CPU's; tests/e2e/
# gpu_codec.sh runs it (skipping where no GPU is usable). Built only where
# nvcc exists. -fmad=false is belt and braces: the kernel uses explicitly
# rounded intrinsics, which nvcc never fuses.

ifneq ($(NVCC),)
GPU_CODEC_ARCH ?= -gencode arch=compute_80,code=sm_80 \
                  -gencode arch=compute_90,code=[sm_90,compute_90]
GPU_CODEC_CHECK := $(BIN)/llmi_gpu_quant_check

$(OBJ)/gpu/codec/quant.o: gpu/codec/quant.cu gpu/codec/gpu_quant.h | $(DEPS_STAMP)
	$(call msg,NVCC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(NVCC) -O2 -fmad=false -Xcompiler -fPIC $(GPU_CODEC_ARCH) -Igpu/codec -c $< -o $@

$(GPU_CODEC_CHECK): $(OBJ)/gpu/codec/quant_check.o $(OBJ)/gpu/codec/quant.o $(CODEC_OBJS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(NVCC) -o $@ $^ -lpthread -lm

$(OBJ)/gpu/codec/quant_check.o: CPPFLAGS += -I.

ALL += $(GPU_CODEC_CHECK)
endif
