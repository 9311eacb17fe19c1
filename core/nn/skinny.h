/*
 * skinny.h - nn.Linear for a handful of rows without packing: the products of one decoding
 * step (the cached decoder's projections and feed-forward, the generator) at batch 1 or with a
 * beam of a few hypotheses.
 *
 * OpenBLAS' sgemm copies ("packs") the whole weight matrix into its own layout on every call;
 * for a few rows that copy costs more than the product (69 % of a beam-4 translation went into
 * sgemm_incopy). These kernels read each weight row once where it lies and multiply it with
 * up to four input rows held in cache, 4 output columns x up to 4 rows of accumulators in
 * registers: AVX-512F (16 lanes) or AVX2 + FMA (8 lanes), picked at run time from the CPU
 * (__builtin_cpu_supports), never from the build machine's flags, so they keep their speed when
 * OpenBLAS is told to run its Haswell kernels on an AVX-512 machine. Elsewhere callers fall back
 * to glia_gemv / glia_gemm (glia_skinny_available says which).
 *
 * Sums run in another order than sgemm's, so outputs may differ from glia_linear_forward's in
 * the last bits; a caller takes one path for a whole decoding run, never per call.
 */
#ifndef GLIA_NN_SKINNY_H
#define GLIA_NN_SKINNY_H

/* Whether this CPU runs the kernels (AVX-512F, or AVX2 and FMA) and they are not turned off. */
int glia_skinny_available(void);

/* Tests and benchmarks: 0 turns the kernels off (glia_skinny_available answers 0), 1 back on;
 * 2 keeps them on but limits them to AVX2 (where the CPU has it), to time both paths on one
 * machine. Not thread-safe: call it before decoding starts. */
void glia_skinny_enable(int mode);

/* y [m, n] (rows ldy apart) = x [m, k] (rows k apart) w^T + b, w (n, k) row-major, b (n) or NULL.
 * Any m >= 0 works (rows go four at a time, so w is read once per four rows); only call it when
 * glia_skinny_available(). */
void glia_skinny_linear(const float *x, int m, int k, const float *w, const float *b, int n, float *y,
                        int ldy);

#endif
