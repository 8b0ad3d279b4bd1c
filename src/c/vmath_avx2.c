/* vmath_avx2.c -- the vmath loops compiled with -mavx2 -mfma (CMakeLists.txt). */
#include "vmath.h"
#include "vmath_impl.h"

CGRAD_VMATH_DEFINE(avx2)
