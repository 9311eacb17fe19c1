/*
 * vmath.h - vectorised logistic sigmoid and tanh over arrays, for the LSTM gates.
 *
 * libm's expf/tanhf are scalar calls; an LSTM step runs five of them per hidden unit and
 * they were most of the recurrent loop's time. These kernels evaluate the same functions
 * 16 (AVX-512F) or 8 (AVX2 + FMA) at a time with the path picked at run time from the CPU
 * (__builtin_cpu_supports, never the build machine's -march), and libm's scalar functions
 * elsewhere. Every path is within a few ulp of the correctly rounded result (tests/unit/
 * test_vmath.c measures it over a dense range, the extremes, infinities and NaN), keeps
 * NaN, and gives exactly 0, 1, -1 or +-0 where the function saturates or is odd.
 */
#ifndef GLIA_NN_VMATH_H
#define GLIA_NN_VMATH_H

#include <stddef.h>

typedef enum {
    GLIA_VMATH_SCALAR = 0, /* libm: 1 / (1 + expf(-x)), tanhf */
    GLIA_VMATH_AVX2 = 1,   /* 8 lanes, AVX2 + FMA */
    GLIA_VMATH_AVX512 = 2, /* 16 lanes, AVX-512F */
} glia_vmath_path;

/* y[i] = 1 / (1 + exp(-x[i])) for i < n; y may be x. */
void glia_vsigmoid(float *y, const float *x, size_t n);

/* y[i] = tanh(x[i]) for i < n; y may be x. */
void glia_vtanh(float *y, const float *x, size_t n);

/* y[i] = exp(x[i]) for i < n (softmax over attention scores); y may be x. Same accuracy and
 * special values as the exp inside sigmoid and tanh (0 below -104, inf above 89, NaN kept). */
void glia_vexp(float *y, const float *x, size_t n);

/* Whether this CPU can run the path. */
int glia_vmath_available(glia_vmath_path path);

/* The path in use: the best available, unless glia_vmath_force chose one. */
glia_vmath_path glia_vmath_current(void);

/* Tests and benchmarks: run `path` (when available) from now on; -1 goes back to the best.
 * Not thread-safe: call it before any other thread computes. Returns the path now in use. */
glia_vmath_path glia_vmath_force(int path);

#endif
