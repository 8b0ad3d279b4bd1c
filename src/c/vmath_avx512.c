/* vmath_avx512.c -- the vmath loops compiled with -mavx512f/dq/bw/vl (CMakeLists.txt). */
#include "vmath.h"
#include "vmath_impl.h"

CGRAD_VMATH_DEFINE(avx512)
