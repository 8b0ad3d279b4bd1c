/* optim.c -- baseline build of the float32 Adam and SGD blocks and the per-call ISA dispatch. */
#include "cgrad.h"
#include "optim_kernels.h"

void cgrad_adam_block_f_generic(CGRAD_ADAM_BLOCK_ARGS)
{
    adam_block_f_impl(CGRAD_ADAM_BLOCK_CALL);
}

void cgrad_adam_block_f(CGRAD_ADAM_BLOCK_ARGS)
{
#if defined(CGRAD_HAVE_X86_DISPATCH)
    switch (cgrad_isa_selected()) {
    case CGRAD_ISA_AVX512: cgrad_adam_block_f_avx512(CGRAD_ADAM_BLOCK_CALL); return;
    case CGRAD_ISA_AVX2: cgrad_adam_block_f_avx2(CGRAD_ADAM_BLOCK_CALL); return;
    default: break;
    }
#endif
    cgrad_adam_block_f_generic(CGRAD_ADAM_BLOCK_CALL);
}

void cgrad_sgd_block_f_generic(CGRAD_SGD_BLOCK_ARGS)
{
    sgd_block_f_impl(CGRAD_SGD_BLOCK_CALL);
}

void cgrad_sgd_block_f(CGRAD_SGD_BLOCK_ARGS)
{
#if defined(CGRAD_HAVE_X86_DISPATCH)
    switch (cgrad_isa_selected()) {
    case CGRAD_ISA_AVX512: cgrad_sgd_block_f_avx512(CGRAD_SGD_BLOCK_CALL); return;
    case CGRAD_ISA_AVX2: cgrad_sgd_block_f_avx2(CGRAD_SGD_BLOCK_CALL); return;
    default: break;
    }
#endif
    cgrad_sgd_block_f_generic(CGRAD_SGD_BLOCK_CALL);
}
