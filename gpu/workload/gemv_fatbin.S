/* The GEMV fatbinary (gemv.cu), embedded in llm_decode_cuda for cuLibraryLoadData. */
	.section .rodata
	.balign 64
	.globl gemv_fatbin
gemv_fatbin:
	.incbin GEMV_FATBIN
	.section .note.GNU-stack,"",@progbits
