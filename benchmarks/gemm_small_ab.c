/*
 * gemm_small_ab.c -- builds of the no-pack AVX2 kernel (gemm_small_avx2.c) side by side
 * in one process: calls interleaved, median GFLOP/s of `reps` samples per build, and
 * whether every build gave the same bits (memcmp of C).  Used for RESULTS.md (issue 11).
 *
 * Build: compile each version of src/c with the build's flags and rename its symbols:
 *   F="-O3 -std=gnu11 -fPIC -fno-math-errno -fno-trapping-math -fopenmp -mavx2 -mfma"
 *   mk() { gcc $F -I$2 -c $2/gemm_small_avx2.c -o $1.o && objcopy \
 *          --redefine-sym cgrad_sgemm_small_avx2=$1_sgemm_small_avx2 \
 *          --redefine-sym cgrad_dgemm_small_avx2=$1_dgemm_small_avx2 $1.o; }
 *   mk v0 /path/to/old/src/c; mk v1 src/c; mk v2 /path/to/variant/src/c
 *   gcc -O2 benchmarks/gemm_small_ab.c v0.o v1.o v2.o -fopenmp -o /tmp/gemm_small_ab
 * Run:  /tmp/gemm_small_ab F64 TRANSA M N K ALPHA [reps] [builds]
 *   e.g. /tmp/gemm_small_ab 1 0 256 7 1024 0.5 21    (float64, NN, alpha 0.5)
 * KC is avx2's 256, split as kc_split does.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define DECL(P) \
 void P##_sgemm_small_avx2(int, long, long, long, long, float, const float*, long, const float*, long, int, float*, long); \
 void P##_dgemm_small_avx2(int, long, long, long, long, double, const double*, long, const double*, long, int, double*, long);
DECL(v0) DECL(v1) DECL(v2)
typedef void (*sfn)(int, long, long, long, long, float, const float*, long, const float*, long, int, float*, long);
typedef void (*dfn)(int, long, long, long, long, double, const double*, long, const double*, long, int, double*, long);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int dbl=atoi(argv[1]), ta=atoi(argv[2]); long M=atol(argv[3]),N=atol(argv[4]),K=atol(argv[5]);
  double alpha=atof(argv[6]); int reps=argc>7?atoi(argv[7]):21; int nv=argc>8?atoi(argv[8]):3;
  long kc0=256, sl=(K+kc0-1)/kc0, kc=(K+sl-1)/sl;
  size_t es=dbl?8:4; void*A=aligned_alloc(64,(M*K*es+63)/64*64),*B=aligned_alloc(64,(K*N*es+63)/64*64);
  void*C[3]; for(int v=0;v<3;v++){C[v]=aligned_alloc(64,(M*N*es+63)/64*64);}
  for(long i=0;i<M*K;i++){ if(dbl)((double*)A)[i]=rand()/(double)RAND_MAX-.5; else ((float*)A)[i]=rand()/(float)RAND_MAX-.5f;}
  for(long i=0;i<K*N;i++){ if(dbl)((double*)B)[i]=rand()/(double)RAND_MAX-.5; else ((float*)B)[i]=rand()/(float)RAND_MAX-.5f;}
  sfn sf[3]={v0_sgemm_small_avx2,v1_sgemm_small_avx2,v2_sgemm_small_avx2};
  dfn df[3]={v0_dgemm_small_avx2,v1_dgemm_small_avx2,v2_dgemm_small_avx2};
  long lda=ta?M:K; double fl=2.0*M*N*K; int inner=1;
  { double t0=now(); if(dbl) df[0](ta,M,N,K,kc,alpha,A,lda,B,N,0,C[0],N); else sf[0](ta,M,N,K,kc,(float)alpha,A,lda,B,N,0,C[0],N);
    double t=now()-t0; inner=(int)(2e-3/(t>1e-7?t:1e-7)); if(inner<1)inner=1;}
  double s[3][201];
  for(int r=0;r<reps;r++) for(int v=0;v<nv;v++){ double t0=now(); for(int i=0;i<inner;i++){ if(dbl) df[v](ta,M,N,K,kc,alpha,A,lda,B,N,0,C[v],N); else sf[v](ta,M,N,K,kc,(float)alpha,A,lda,B,N,0,C[v],N);} s[v][r]=fl*inner/(now()-t0)/1e9; }
  int same=1; for(int v=1;v<nv;v++) same&=memcmp(C[0],C[v],M*N*es)==0;
  printf("%s %s %ldx%ldx%ld alpha=%g:", dbl?"f64":"f32", ta?"TN":"NN", M,N,K,alpha);
  for(int v=0;v<nv;v++){qsort(s[v],reps,sizeof(double),cmp); printf("  v%d %6.1f", v, s[v][reps/2]);}
  printf("   bits %s\n", same?"same":"DIFFER");
}
