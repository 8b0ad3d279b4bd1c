/* optim_avx2.c -- the float32 Adam block built with this file's ISA flags (CMakeLists.txt). */
#include "optim_kernels.h"

void cgrad_adam_block_f_avx2(CGRAD_ADAM_BLOCK_ARGS)
{
    adam_block_f_impl(CGRAD_ADAM_BLOCK_CALL);
}
