/*
 * bf16.h - reduced precision for inference: a bf16 copy of a weight matrix, packed once for
 * AVX512_BF16's dot product (vdpbf16ps), and the product of fp32 activations with it, summed
 * in fp32.
 *
 * bf16 is fp32's top 16 bits: the same exponent range, 8 bits of mantissa instead of 24.
 * Weights are rounded once, at packing (round to nearest even); activations are rounded the
 * same way on the fly, a few rows at a time; every product of two bf16 numbers is exact in
 * fp32 and the sums are fp32 - so the error is that of the two roundings (2^-9 relative
 * each), not of a bf16 accumulator.
 *
 * Only inference uses this: a model's layers take the bf16 path for a weight whose
 * glia_param carries a copy (param->bf16, set by glia_model_set_precision), and training
 * builds its models without one. On a CPU without AVX512_BF16 no copy is made at all
 * (glia_bf16_available), so the model runs - and says it runs - fp32.
 *
 * Layout: the rows (outputs) in blocks of 16; in a block, for each pair p of columns, one
 * 64-byte vector of 16 (w[r][2p], w[r][2p+1]) pairs - what vdpbf16ps multiplies with one
 * broadcast pair of an activation row, so the kernel reads the weights once, in order.
 * An odd last column and the rows past the last block's end are zeros. A convolution's
 * weight is the left operand instead, its patches the packed right one: its copy keeps
 * plain rows of pairs (GLIA_BF16_ROWS), and glia_bf16_conv packs each image's patches.
 */
#ifndef GLIA_NN_BF16_H
#define GLIA_NN_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/nn/layer.h"

enum { GLIA_BF16_BLOCKED = 0, GLIA_BF16_ROWS = 1 };

struct glia_bf16_mat {
    int rows, cols; /* the fp32 matrix's shape: y = x w^T takes cols inputs to rows outputs */
    int pairs;      /* (cols + 1) / 2 */
    int blocks;     /* (rows + 15) / 16 */
    int layout;     /* GLIA_BF16_BLOCKED, or GLIA_BF16_ROWS: rows of `pairs` pairs, one after another */
    uint32_t *data; /* owned, 64-byte aligned: blocks * pairs vectors of 16 pairs (or rows * pairs) */
};

/* Whether this process can run the bf16 kernel: the CPU has AVX512_BF16 (with AVX-512 F,
 * BW and VL) and the environment does not say GLIA_NO_BF16=1 - a switch that makes a
 * capable machine take the fp32 fallback, so tests (and operators) can see that path. */
int glia_bf16_available(void);

/* w (rows x cols, row-major, rows ld floats apart) rounded to bf16 and packed into a new
 * matrix (*out, freed with glia_bf16_free). GLIA_ENOMEM when it does not fit. */
glia_status glia_bf16_pack(const float *w, int rows, int cols, size_t ld, glia_bf16_mat **out, glia_err *err);
/* The same in rows layout (GLIA_BF16_ROWS): a convolution's weight for glia_bf16_conv. */
glia_status glia_bf16_pack_rows(const float *w, int rows, int cols, size_t ld, glia_bf16_mat **out,
                                glia_err *err);
void glia_bf16_free(glia_bf16_mat *m); /* NULL-safe */
size_t glia_bf16_bytes(const glia_bf16_mat *m);

/* y [m, n] (rows ldy apart) = beta y + x [m, w->cols] (rows ldx apart) times rows
 * [row0, row0 + n) of w transposed. row0 is a multiple of 16 and row0 + n <= w->rows; with
 * beta 0, y is not read. Needs glia_bf16_available() (the caller made w only then). */
void glia_bf16_gemm(int m, int n, const float *x, int ldx, const glia_bf16_mat *w, int row0, float beta,
                    float *y, int ldy);

/* glia_linear_forward (kernels.h) with the weight rows [row0, row0 + out) of the 2-D
 * parameter w (in columns): through w's bf16 copy when it has one and row0 is a multiple of
 * 16, else exactly glia_linear_forward on fp32 w. */
void glia_linear_forward_param(const float *x, int n, int in, const glia_param *w, int row0, const float *b,
                               int out, float *y, int ldy);

/* glia_linear_forward_few (kernels.h: a decoding step's few rows, no sgemm packing) on the
 * whole 2-D parameter w: through w's bf16 copy when it has one, else exactly
 * glia_linear_forward_few on fp32 w. */
void glia_linear_forward_param_few(const float *x, int n, int in, const glia_param *w, const float *b,
                                   int out, float *y, int ldy);

/* Scratch floats glia_bf16_conv needs for one image: the patches packed (half of
 * im2col's size) and two input channels' fp32 im2col rows. */
size_t glia_bf16_conv_scratch(int c, int k, int oh, int ow);

/* One image of a convolution (conv2d.c's shapes: x (c, h, w), y (oc, oh, ow), square
 * kernel k, stride, zero padding): y = weight * im2col(x) + bias through weight's bf16
 * copy (rows layout, oc x c*k*k) and the image's patches rounded to bf16, fp32 sums; with
 * relu, clamped as the ReLU layer does (NaN kept). */
void glia_bf16_conv(const float *x, int c, int h, int w, int k, int stride, int pad, int oh, int ow,
                    const glia_bf16_mat *weight, const float *bias, int relu, float *y, float *scratch);

/* x rounded to bf16 (nearest, ties to even; NaN stays NaN) and widened back to fp32: the
 * value the kernel multiplies. For references in tests. */
float glia_bf16_round(float x);

/* Packs a bf16 copy for the parameter p (param->bf16), unless it has one: a 2-D (linear)
 * weight blocked, a 4-D (convolution) weight in rows of c*k*k. Frees it again with
 * glia_bf16_param_drop (NULL-safe on params without). */
glia_status glia_bf16_param_attach(glia_param *p, glia_err *err);
void glia_bf16_param_drop(glia_param *p);

#endif
