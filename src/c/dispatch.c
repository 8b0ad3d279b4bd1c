/*
 * dispatch.c -- choose the micro-kernel instruction set once, at import.
 *
 * The wheel is compiled for baseline x86-64 (or the platform baseline elsewhere);
 * only files named *_avx2.c / *_avx512.c are compiled with those ISAs (CMakeLists.txt).
 * Here we ask the CPU and the OS what may run, and let CGRAD_ISA force a choice.
 * On AArch64 NEON is part of the base ISA: the neon row is the default there with no
 * run-time check (*_neon.c are built only there, CGRAD_HAVE_NEON), and generic still
 * forces the portable kernels.
 */
#include <stdlib.h>
#include <string.h>
#include "cgrad.h"

static int selected = CGRAD_ISA_GENERIC;

/* GEMM kernel table, one row per ISA (indexed by CGRAD_ISA_*): {name, MR, NR, KC, MC, NC,
 * nopack_serial, micro-kernel}.  nopack_serial: how many times the no-pack threshold a
 * one-thread product may reach before packing wins (gemm.c, bench_gemm's crossover
 * measurements in RESULTS.md); 1 where the no-pack kernel is plain C (generic, neon).  MC is a multiple of MR and NC of NR.  KC sizes the B micro-panel
 * (KC x NR) to stay near L1 while a block of A (MC x KC) streams from L2 and the B panel
 * (KC x NC) from L3.  The avx512 float32 row was tuned on a Zen 4 core (32 KiB L1d,
 * 1 MiB L2, a 16 MiB share of L3) with bench_gemm.py: KC 384 beat 128/192/256 on the
 * 2048 cube and the W1/W3 shapes, MC 144 matched 288 and beat 480; the other rows use
 * the textbook sizes for their register tiles.  At selection MC and NC shrink to this
 * machine's caches where those are smaller (derive_row).
 * Without x86 dispatch the SIMD rows fall back to the reference kernel (they are never
 * selected: cgrad_isa_available says no). */
#if defined(CGRAD_HAVE_X86_DISPATCH)
#define S_AVX2 cgrad_ukernel_s6x16_avx2
#define D_AVX2 cgrad_ukernel_d6x8_avx2
#define S_AVX512 cgrad_ukernel_s12x32_avx512
#define D_AVX512 cgrad_ukernel_d12x16_avx512
#else
#define S_AVX2 cgrad_ukernel_s4x8_ref
#define D_AVX2 cgrad_ukernel_d4x8_ref
#define S_AVX512 cgrad_ukernel_s4x8_ref
#define D_AVX512 cgrad_ukernel_d4x8_ref
#endif
/* The neon rows are untuned (no AArch64 hardware measured): KC keeps the B micro-panel
 * (KC x NR, 12 KiB) plus an A micro-panel within a 32 KiB L1d, MC and NC are BLIS's
 * armv8a values, float64's NC halved so KC x NC stays 3 MiB (1536 = 256 NR). */
#if defined(CGRAD_HAVE_NEON)
#define S_NEON cgrad_ukernel_s8x12_neon
#define D_NEON cgrad_ukernel_d8x6_neon
#else
#define S_NEON cgrad_ukernel_s4x8_ref
#define D_NEON cgrad_ukernel_d4x8_ref
#endif
static const cgrad_sgemm_row tuned_srows[4] = {
    {"generic", 4, 8, 256, 128, 2048, 1, cgrad_ukernel_s4x8_ref},
    {"avx2", 6, 16, 256, 120, 3072, 16, S_AVX2},
    {"avx512", 12, 32, 384, 144, 3072, 32, S_AVX512},
    {"neon", 8, 12, 256, 120, 3072, 1, S_NEON},
};
static const cgrad_dgemm_row tuned_drows[4] = {
    {"generic", 4, 8, 256, 128, 2048, 1, cgrad_ukernel_d4x8_ref},
    {"avx2", 6, 8, 256, 96, 2048, 4, D_AVX2},
    {"avx512", 12, 16, 256, 96, 2048, 32, D_AVX512},
    {"neon", 8, 6, 256, 120, 1536, 1, D_NEON},
};

static cgrad_caches caches;
static int cache_source = CGRAD_CACHE_UNKNOWN;
static cgrad_sgemm_row srow;
static cgrad_dgemm_row drow;

/* The tuned block, cut to a multiple of unit that keeps it within budget bytes (at
 * least one unit; the tuned block when the cache size is unknown). */
static long fit_block(long tuned, long budget, long bytes_per_line, int unit)
{
    if (budget <= 0 || tuned * bytes_per_line <= budget) return tuned;
    const long v = budget / bytes_per_line / unit * unit;
    return v < unit ? unit : v;
}

/* A smaller cache shrinks MC until the A block (MC x KC) takes at most half of L2 and
 * NC until the B panel (KC x NC) fits this core's share of L3; a larger one keeps the
 * tuned sizes (bench_gemm on the reference core: MC from 36 to 288 and larger NC gained
 * nothing).  KC does not follow the cache: it fixes the order of every K-sum, so a
 * cache-derived KC would make the bits depend on the machine. */
#define derive_row(row, tuned, size)                                                    \
    do {                                                                                \
        (row) = (tuned);                                                                \
        (row).mc = fit_block((tuned).mc, caches.l2 / 2, (tuned).kc * (size), (tuned).mr); \
        (row).nc = fit_block((tuned).nc, caches.l3, (tuned).kc * (size), (tuned).nr);     \
    } while (0)

/* Before cgrad_isa_init or cgrad_isa_select (a C program calling GEMM directly): the
 * generic rows as tuned, caches unknown. */
const cgrad_sgemm_row *cgrad_sgemm_selected(void)
{
    if (srow.ukernel == NULL) cgrad_isa_select(selected);
    return &srow;
}

const cgrad_dgemm_row *cgrad_dgemm_selected(void)
{
    if (drow.ukernel == NULL) cgrad_isa_select(selected);
    return &drow;
}

const cgrad_caches *cgrad_cache_sizes(int *source)
{
    if (source != NULL) *source = cache_source;
    return &caches;
}

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
#if defined(CGRAD_HAVE_NEON)
    return CGRAD_ISA_NEON;
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
#if defined(CGRAD_HAVE_NEON)
    if (isa == CGRAD_ISA_NEON) return 1;
#endif
    return 0;
}

int cgrad_isa_selected(void) { return selected; }

int cgrad_isa_select(int isa)
{
    if (!cgrad_isa_available(isa)) return -1;
    selected = isa;
    derive_row(srow, tuned_srows[isa], (long)sizeof(float));
    derive_row(drow, tuned_drows[isa], (long)sizeof(double));
    return 0;
}

const char *cgrad_isa_name(int isa)
{
    switch (isa) {
    case CGRAD_ISA_AVX2: return "avx2";
    case CGRAD_ISA_AVX512: return "avx512";
    case CGRAD_ISA_NEON: return "neon";
    default: return "generic";
    }
}

int cgrad_isa_init(void)
{
    const char *env = getenv("CGRAD_ISA");
    cache_source = cgrad_cache_detect(&caches);
    cgrad_isa_select(cgrad_isa_supported_best());
    if (env == NULL || env[0] == '\0') return 0;
    for (int isa = CGRAD_ISA_GENERIC; isa <= CGRAD_ISA_NEON; isa++)
        if (strcmp(env, cgrad_isa_name(isa)) == 0)
            return cgrad_isa_select(isa);
    return -1;
}
