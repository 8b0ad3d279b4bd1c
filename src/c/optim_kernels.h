/*
 * optim_kernels.h -- the float32 Adam/AdamW and SGD updates of one block, written once and
 * compiled per instruction set (optim.c: baseline, optim_avx2.c, optim_avx512.c), so the
 * sqrt and the division run on the widest vectors the CPU has.  The formula is the one
 * of src/optim.pxi's _adam_span (torch.optim.Adam's algorithm box):
 *   g' = g + wd*p (if has_wd);  m = b1*m + c1*g';  v = b2*v + c2*g'^2;  vmax = max(vmax, v)
 *   p  = p_scale*p - step * m / (sqrt(v or vmax) * ibc2 + eps)
 * p, g, m, v, vmax never overlap (the callers guarantee it), hence restrict.
 * `static inline`: each ISA file gets its own copy, never shared by the linker.
 */
#ifndef CGRAD_OPTIM_KERNELS_H
#define CGRAD_OPTIM_KERNELS_H
#include <math.h>
#include <stddef.h>

static inline void adam_block_f_impl(float *restrict p, const float *restrict g,
                                     float *restrict m, float *restrict v,
                                      float *restrict vmax, long n, float b1, float c1,
                                      float b2, float c2, float eps, float wd, int has_wd,
                                      float p_scale, float step, float ibc2)
{
    /* has_wd and vmax are loop-invariant: gcc -O3 unswitches them into separate loops */
    if (vmax == NULL) {
        for (long i = 0; i < n; i++) {
            const float gi = has_wd ? g[i] + wd * p[i] : g[i];
            const float mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = p_scale * p[i] - step * mi / (sqrtf(vi) * ibc2 + eps);
        }
    } else {
        for (long i = 0; i < n; i++) {
            const float gi = has_wd ? g[i] + wd * p[i] : g[i];
            const float mi = b1 * m[i] + c1 * gi, vi = b2 * v[i] + c2 * gi * gi;
            const float vm = vmax[i] > vi ? vmax[i] : vi;
            m[i] = mi;
            v[i] = vi;
            vmax[i] = vm;
            p[i] = p_scale * p[i] - step * mi / (sqrtf(vm) * ibc2 + eps);
        }
    }
}

/* SGD (torch.optim.SGD), the formula of src/optim.pxi's _sgd_span; keep = 1 - dampening:
 *   g' = g + wd*p (if has_wd);  buf = g' (first step) | momentum*buf + keep*g'
 *   p -= lr * (g' + momentum*buf (nesterov) | buf (buf != NULL) | g')
 * The options pick one loop each (loop-invariant branches, unswitched by -O3). */
static inline void sgd_block_f_impl(float *restrict p, const float *restrict g,
                                    float *restrict buf, long n, float lr, float momentum,
                                    float keep, float wd, int has_wd, int first,
                                    int nesterov)
{
    if (buf == NULL) {
        for (long i = 0; i < n; i++) {
            const float gi = has_wd ? g[i] + wd * p[i] : g[i];
            p[i] = p[i] - lr * gi;
        }
    } else if (first) {
        for (long i = 0; i < n; i++) {
            const float gi = has_wd ? g[i] + wd * p[i] : g[i];
            buf[i] = gi;
            p[i] = p[i] - lr * (nesterov ? gi + momentum * gi : gi);
        }
    } else if (nesterov) {
        for (long i = 0; i < n; i++) {
            const float gi = has_wd ? g[i] + wd * p[i] : g[i];
            const float b = momentum * buf[i] + keep * gi;
            buf[i] = b;
            p[i] = p[i] - lr * (gi + momentum * b);
        }
    } else {
        for (long i = 0; i < n; i++) {
            const float gi = has_wd ? g[i] + wd * p[i] : g[i];
            const float b = momentum * buf[i] + keep * gi;
            buf[i] = b;
            p[i] = p[i] - lr * b;
        }
    }
}

#define CGRAD_SGD_BLOCK_ARGS                                                               \
    float *restrict p, const float *restrict g, float *restrict buf, long n, float lr,     \
    float momentum, float keep, float wd, int has_wd, int first, int nesterov
#define CGRAD_SGD_BLOCK_CALL p, g, buf, n, lr, momentum, keep, wd, has_wd, first, nesterov

void cgrad_sgd_block_f_generic(CGRAD_SGD_BLOCK_ARGS);
void cgrad_sgd_block_f_avx2(CGRAD_SGD_BLOCK_ARGS);
void cgrad_sgd_block_f_avx512(CGRAD_SGD_BLOCK_ARGS);
/* Dispatches on cgrad_isa_selected() (optim.c). */
void cgrad_sgd_block_f(CGRAD_SGD_BLOCK_ARGS);

#define CGRAD_ADAM_BLOCK_ARGS                                                              \
    float *restrict p, const float *restrict g, float *restrict m, float *restrict v,      \
    float *restrict vmax, long n, float b1, float c1, float b2, float c2, float eps,       \
    float wd, int has_wd, float p_scale, float step, float ibc2
#define CGRAD_ADAM_BLOCK_CALL p, g, m, v, vmax, n, b1, c1, b2, c2, eps, wd, has_wd, p_scale, step, ibc2

void cgrad_adam_block_f_generic(CGRAD_ADAM_BLOCK_ARGS);
void cgrad_adam_block_f_avx2(CGRAD_ADAM_BLOCK_ARGS);
void cgrad_adam_block_f_avx512(CGRAD_ADAM_BLOCK_ARGS);
/* Dispatches on cgrad_isa_selected() (optim.c). */
void cgrad_adam_block_f(CGRAD_ADAM_BLOCK_ARGS);

#endif
