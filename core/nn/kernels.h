/*
 * kernels.h - the numeric kernels under the layers: GEMM, linear, dropout, im2col/col2im,
 * softmax, argmax.
 *
 * Kernels take raw pointers and sizes, never tensors or layers (llm.c's habit): they
 * are what the benchmarks time and what the naive reference tests compare against.
 * Every matrix product of libglia goes through glia_gemm (OpenBLAS' cblas_sgemm), and every
 * layer calls the one linear, dropout and argmax here instead of writing its own: the same
 * arithmetic in the same order everywhere, so a model's outputs do not depend on which layer
 * computed them. Everything else is written as plain loops that the compiler vectorises.
 */
#ifndef GLIA_NN_KERNELS_H
#define GLIA_NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/rng.h"

/* Row-major C = alpha * op(A) * op(B) + beta * C, op(A) is (m x k), op(B) is (k x n).
 * lda/ldb/ldc are row strides. */
void glia_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);

/* The one-row case of glia_gemm (m = 1, a is one row of k floats, c one row of n) through
 * OpenBLAS' sgemv, which reads B where it lies: sgemm packs B on every call, which costs more
 * than the product itself for one row (and much more with OpenBLAS' Haswell kernels). Sums
 * in another order than glia_gemm's, so callers pick one path per layer, not per call. */
void glia_gemv(int trans_b, int n, int k, float alpha, const float *a, const float *b, int ldb, float beta,
               float *c);

/* nn.Linear: y [n, out] (rows ldy apart) = x [n, in] w^T + b, w (out, in), b (out). The bias
 * is copied into y first and the GEMM adds x w^T to it. */
void glia_linear_forward(const float *x, int n, int in, const float *w, const float *b, int out, float *y,
                         int ldy);

/* nn.Linear over the few rows of one decoding step (the cached decoder, the generator): rows up
 * to GLIA_LINEAR_GEMV_ROWS go one by one through glia_gemv, which reads w where it lies, more
 * rows through glia_linear_forward. sgemm packs all of w on every call, and at batch 1 that
 * packing was half of a translation's time (an 8000 x 256 generator: 1.18 ms per step through
 * sgemm, 0.29 ms through sgemv). The sums run in gemv's order for those rows, so a step's
 * outputs may differ from glia_linear_forward's in the last bits. */
#define GLIA_LINEAR_GEMV_ROWS 1
#ifndef GLIA_LINEAR_SKINNY_ROWS
#define GLIA_LINEAR_SKINNY_ROWS 16
#endif
void glia_linear_forward_few(const float *x, int n, int in, const float *w, const float *b, int out, float *y,
                             int ldy);

/* Its backward for dy [n, out] (rows lddy apart): dw += dy^T x and db += the column sums of dy
 * (each skipped when NULL), then dx = dy w + beta dx when dx is not NULL (dx may be x: x is read
 * first). */
void glia_linear_backward(const float *x, int n, int in, const float *w, float *dw, float *db, int out,
                          const float *dy, int lddy, float *dx, float beta);

/* Inverted dropout (nn.Dropout in training), PyTorch's arithmetic: one glia_rng_uniform draw per
 * element, in order, keeps it when the draw is >= p; y = x / (1 - p) where kept, +0 where dropped
 * (p = 1 drops everything). keep (may be NULL) records the decisions for backward; y may be x. */
void glia_dropout_forward(const float *x, float *y, uint8_t *keep, size_t n, float p, glia_rng *rng);

/* dx = dy / (1 - p) where keep says kept, else 0; dx may be dy. */
void glia_dropout_backward(const float *dy, float *dx, const uint8_t *keep, size_t n, float p);

/* ReLU's backward from its output y (drop(relu(z)) when a dropout follows it): d = d * scale
 * where y > 0, else +0, in place (scale 1 / (1 - p) folds that dropout's backward in). */
void glia_relu_backward(const float *y, float *d, size_t n, float scale);

/* The index of the first largest of x[0..k) (k >= 1); a NaN never beats an earlier value. */
int glia_argmax(const float *x, int k);

/* The sum of x[0..n) in double, over 8 interleaved partial sums (element j in sum j % 8 up to
 * the last whole 8, the rest in sum 0; then the sums in order): one running double sum over
 * a vocabulary row waits on every add's latency, 8 independent ones vectorise. The order is
 * fixed, so the result is deterministic. */
double glia_sum_f64(const float *x, size_t n);

/* One image x (c, h, w) into columns: row (ci*kernel + ki)*kernel + kj, column oh*ow_n + ow
 * of col, whose rows are ld floats apart (so several images can sit side by side).
 * Out-of-image taps (padding) are 0. */
void glia_im2col(const float *x, int c, int h, int w, int kernel, int stride, int pad, int oh, int ow,
                 float *col, size_t ld);

/* The adjoint of glia_im2col: ACCUMULATES col's entries into dx (c, h, w). */
void glia_col2im(const float *col, size_t ld, int c, int h, int w, int kernel, int stride, int pad, int oh,
                 int ow, float *dx);

/* Direct (no im2col, no GEMM) stride-1 convolution of ONE sample, for small images:
 * x is (c, h, w), weight (oc, c, k, k) with the taps of output channel o at
 * weight + o * wstride (wstride >= c*k*k), bias (oc) or NULL, y (oc, oh, ow) with
 * oh = h + 2 pad - k + 1 (likewise ow). With relu, y = max(y, 0) as the ReLU layer
 * computes it (NaN kept); with gate (c, h, w) non-NULL, an input element counts only
 * where gate > 0 (ReLU's backward folded into a transposed convolution's input).
 * scratch holds glia_conv_direct_scratch() floats. Sums run in tap order
 * (ci, ki, kj), not GEMM's, so answers differ from the im2col path by rounding. */
void glia_conv_direct(const float *x, const float *gate, int c, int h, int w, const float *weight,
                      size_t wstride, const float *bias, int oc, int k, int pad, int relu, float *y,
                      float *scratch);
/* Whether glia_conv_direct serves this shape on this CPU (it needs AVX-512F, stride 1,
 * 0 <= pad < k and output rows of at most 64; elsewhere callers use im2col + GEMM). */
int glia_conv_direct_ok(int h, int w, int k, int stride, int pad);
size_t glia_conv_direct_scratch(int c, int h, int w, int k, int pad);
/* Tests and benchmarks: 0 turns the direct path off (glia_conv_direct_ok answers 0),
 * so both paths can be checked on one machine. Set it before building layers: a conv
 * layer takes the direct path only if its init() planned scratch for it. */
void glia_conv_direct_enable(int on);

/* Winograd F(2x2, 3x3) convolution of ONE sample (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", 2015): a 3x3, stride 1, padding 1 convolution computed per
 * 2x2 output tile from its 4x4 input tile as A^T [(G g G^T) .* (B^T d B)] A, which is 16
 * multiplies per tile and input channel instead of 36. The 16 element-wise products summed
 * over the input channels are 16 GEMMs (oc x c) x (c x tiles), which OpenBLAS runs near its
 * peak even at these sizes; the transforms are adds. 2.25x fewer multiply-adds than the direct
 * kernel, at the price of rounding: results differ from a direct sum by a few ulp of the
 * largest terms. Inference only (net.c).
 *   glia_winograd_ok: the shapes it serves (3x3, stride 1, padding 1);
 *   glia_winograd_weights: u (16, oc, c) = G g G^T of weight (oc, c, 3, 3), once per forward
 *     call (glia_winograd_weight_floats floats);
 *   glia_winograd_conv: x (c, h, w) -> y (oc, h, w) with bias (or NULL) and, with relu, the
 *     ReLU as activation.c computes it; with pool, y (oc, h / 2, w / 2) is then a 2x2 stride-2
 *     max-pool of that, as pool2d.c computes it (same bits), taken per output tile: a tile is a
 *     pooling window. scratch holds glia_winograd_scratch floats. */
int glia_winograd_ok(int k, int stride, int pad);
size_t glia_winograd_weight_floats(int oc, int c);
void glia_winograd_weights(const float *weight, int oc, int c, float *u);
size_t glia_winograd_scratch(int c, int oc, int h, int w);
void glia_winograd_conv(const float *x, int c, int h, int w, const float *u, const float *bias, int oc,
                        int relu, int pool, float *y, float *scratch);

/* Winograd F(4x4, 3x3) (same paper) for a conv whose output then goes through a 2x2 stride-2
 * max-pool: 36 multiplies per 4x4 output tile and input channel, 1.78x fewer than F(2x2) on
 * whole tiles, and larger rounding (the transforms' constants reach 8 and 1/24). x (c, h, w) ->
 * y (oc, h / 2, w / 2) = pool(relu?(conv(x) + bias)), the pool and ReLU as pool2d.c and
 * activation.c compute them; u from glia_winograd4_weights (glia_winograd4_weight_floats);
 * scratch holds glia_winograd4_scratch floats. Inference only (net.c). */
size_t glia_winograd4_weight_floats(int oc, int c);
void glia_winograd4_weights(const float *weight, int oc, int c, float *u);
size_t glia_winograd4_scratch(int c, int oc, int h, int w);
void glia_winograd4_pool_conv(const float *x, int c, int h, int w, const float *u, const float *bias, int oc,
                              int relu, float *y, float *scratch);

/* Row-wise softmax of x (n x k) into y (may alias x), max-subtracted for stability. */
void glia_softmax(const float *x, float *y, int n, int k);

/* Output length of a convolution/pooling window: floor((in + 2 pad - kernel) / stride) + 1. */
static inline int glia_window_out(int in, int kernel, int stride, int pad)
{
    return (in + 2 * pad - kernel) / stride + 1;
}

#endif
