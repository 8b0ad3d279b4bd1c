/*
 * dispatch.c -- choose the micro-kernel instruction set once, at import.
 *
 * The wheel is compiled for baseline x86-64 (or the platform baseline elsewhere);
 * only files named *_avx2.c / *_avx512.c are compiled with those ISAs (CMakeLists.txt).
 * Here we ask the CPU and the OS what may run, and let CGRAD_ISA force a choice.
 */
#include <stdlib.h>
#include <string.h>
#include "cgrad.h"

static int selected = CGRAD_ISA_GENERIC;

int cgrad_isa_supported_best(void)
{
#if defined(CGRAD_HAVE_X86_DISPATCH) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    /* libgcc checks OSXSAVE and XCR0 (YMM/ZMM state enabled by the OS) before it
     * reports avx2/avx512f, so these answers already include OS support. */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return CGRAD_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return CGRAD_ISA_AVX2;
#endif
    return CGRAD_ISA_GENERIC;
}

int cgrad_isa_available(int isa)
{
    if (isa == CGRAD_ISA_GENERIC) return 1;
#if defined(CGRAD_HAVE_X86_DISPATCH)
    if (isa == CGRAD_ISA_AVX2 || isa == CGRAD_ISA_AVX512)
        return isa <= cgrad_isa_supported_best();
#endif
    return 0;
}

int cgrad_isa_selected(void) { return selected; }

int cgrad_isa_select(int isa)
{
    if (!cgrad_isa_available(isa)) return -1;
    selected = isa;
    return 0;
}

const char *cgrad_isa_name(int isa)
{
    switch (isa) {
    case CGRAD_ISA_AVX2: return "avx2";
    case CGRAD_ISA_AVX512: return "avx512";
    default: return "generic";
    }
}

int cgrad_isa_init(void)
{
    const char *env = getenv("CGRAD_ISA");
    selected = cgrad_isa_supported_best();
    if (env == NULL || env[0] == '\0') return 0;
    for (int isa = CGRAD_ISA_GENERIC; isa <= CGRAD_ISA_AVX512; isa++)
        if (strcmp(env, cgrad_isa_name(isa)) == 0)
            return cgrad_isa_select(isa);
    return -1;
}
