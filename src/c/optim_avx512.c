/* optim_avx512.c -- the float32 Adam and SGD blocks built with this file's ISA flags (CMakeLists.txt). */
#include "optim_kernels.h"

void cgrad_adam_block_f_avx512(CGRAD_ADAM_BLOCK_ARGS)
{
    adam_block_f_impl(CGRAD_ADAM_BLOCK_CALL);
}

void cgrad_sgd_block_f_avx512(CGRAD_SGD_BLOCK_ARGS)
{
    sgd_block_f_impl(CGRAD_SGD_BLOCK_CALL);
}
