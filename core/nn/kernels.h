/*
 * kernels.h - the numeric kernels under the layers: GEMM, im2col/col2im, softmax.
 *
 * Kernels take raw pointers and sizes, never tensors or layers (llm.c's habit): they
 * are what the benchmarks time and what the naive reference tests compare against.
 * Matrix products go to OpenBLAS' cblas_sgemm; everything else is written as plain
 * loops that the compiler vectorises.
 */
#ifndef GLIA_NN_KERNELS_H
#define GLIA_NN_KERNELS_H

#include <stddef.h>

/* Row-major C = alpha * op(A) * op(B) + beta * C, op(A) is (m x k), op(B) is (k x n).
 * lda/ldb/ldc are row strides. */
void glia_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);

/* One image x (c, h, w) into columns: row (ci*kernel + ki)*kernel + kj, column oh*ow_n + ow
 * of col, whose rows are ld floats apart (so several images can sit side by side).
 * Out-of-image taps (padding) are 0. */
void glia_im2col(const float *x, int c, int h, int w, int kernel, int stride, int pad, int oh, int ow,
                 float *col, size_t ld);

/* The adjoint of glia_im2col: ACCUMULATES col's entries into dx (c, h, w). */
void glia_col2im(const float *col, size_t ld, int c, int h, int w, int kernel, int stride, int pad, int oh,
                 int ow, float *dx);

/* Row-wise softmax of x (n x k) into y (may alias x), max-subtracted for stability. */
void glia_softmax(const float *x, float *y, int n, int k);

/* Output length of a convolution/pooling window: floor((in + 2 pad - kernel) / stride) + 1. */
static inline int glia_window_out(int in, int kernel, int stride, int pad)
{
    return (in + 2 * pad - kernel) / stride + 1;
}

#endif
