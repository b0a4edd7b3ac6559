# user/codec: the activation codec (codec.h). Users link $(CODEC_OBJS) and
# add $(CODEC_LIBS) to their link line.
#
# -ffp-contract=off: the quantiser's arithmetic is defined without fused
# multiply-add so that the portable path, the AVX-512 path, the decoder on
# another machine and the CUDA kernel all give the same bits. -O3 lets the
# compiler vectorise the plane and prepass loops.

CODEC_OBJS := $(OBJ)/user/codec/codec.o $(OBJ)/user/codec/quant.o $(OBJ)/user/codec/rans.o
CODEC_LIBS := -lpthread -lm

$(CODEC_OBJS): CFLAGS += -O3 -ffp-contract=off

UNIT_OBJS_test_codec := $(CODEC_OBJS)
UNIT_LIBS_test_codec := $(CODEC_LIBS)
FUZZ_OBJS_fuzz_codec_decode := $(CODEC_OBJS)
# The streaming encode against the whole-tensor one (llminstr-dump pack's path).
UNIT_OBJS_test_codec_stream := $(CODEC_OBJS)
UNIT_LIBS_test_codec_stream := $(CODEC_LIBS)
