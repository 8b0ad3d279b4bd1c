/*
 * cgrad.h -- the C API of cgrad's compiled core, used from Cython (src/*.pxi).
 *
 * Conventions: row-major matrices, leading dimensions in elements, sizes as long.
 * Parameter gradients accumulate (+=) unless a call says otherwise; activation
 * gradients are overwritten (=).  Threads split outputs, never a sum, so every
 * result is bitwise identical for any thread count.
 */
#ifndef CGRAD_H
#define CGRAD_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- instruction-set dispatch (dispatch.c) ------------------------------------- */
enum { CGRAD_ISA_GENERIC = 0, CGRAD_ISA_AVX2 = 1, CGRAD_ISA_AVX512 = 2 };

/* Best ISA this CPU *and OS* support (libgcc's __builtin_cpu_supports checks XCR0). */
int cgrad_isa_supported_best(void);
/* 1 if `isa` was compiled into this binary and is usable on this machine. */
int cgrad_isa_available(int isa);
/* The ISA the kernels use now; chosen once at import (init), CGRAD_ISA may force it. */
int cgrad_isa_selected(void);
/* Select `isa` (returns 0) or refuse (returns -1: not available). Not thread-safe:
 * call at import or between kernel calls only. */
int cgrad_isa_select(int isa);
const char *cgrad_isa_name(int isa);
/* Initialise the selection from CGRAD_ISA (generic|avx2|avx512) or the best available.
 * Returns -1 when CGRAD_ISA names an unknown or unavailable ISA (the best is used). */
int cgrad_isa_init(void);

#ifdef __cplusplus
}
#endif
#endif /* CGRAD_H */
