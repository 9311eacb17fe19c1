/*
 * kernels.c - see kernels.h.
 *
 * im2col walks the output positions in the inner loop so that a stride-1 kernel row
 * becomes a contiguous copy of an input row, which the compiler turns into vector
 * moves; the padding borders are handled by computing the valid [ow_lo, ow_hi) range
 * once per row instead of testing every element.
 */
#include "core/nn/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void glia_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* The range of output columns ow whose input column ow*stride - pad + kj lies in [0, w). */
static void valid_range(int w, int ow_n, int stride, int pad, int kj, int *lo, int *hi)
{
    int off = kj - pad; /* input column = ow*stride + off */
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = (w - 1 - off) >= 0 ? (w - 1 - off) / stride + 1 : 0;
    if (h > ow_n)
        h = ow_n;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* "Same" convolutions (stride 1, output as large as the input): each column-matrix row
 * is the whole input plane shifted by (ki - pad) rows and (kj - pad) columns, so it is
 * one long copy plus zeroing of the columns that wrapped around, instead of one short
 * copy per output row. */
static void im2col_same(const float *x, int c, int h, int w, int kernel, int pad, float *col, size_t ld)
{
    const long hw = (long)h * w;
    for (int ci = 0; ci < c; ci++) {
        const float *xc = x + (size_t)ci * hw;
        for (int ki = 0; ki < kernel; ki++)
            for (int kj = 0; kj < kernel; kj++) {
                float *row = col + ((size_t)(ci * kernel + ki) * kernel + kj) * ld;
                const int di = ki - pad, dj = kj - pad;
                const long shift = (long)di * w + dj;
                long start = shift < 0 ? -shift : 0, end = shift > 0 ? hw - shift : hw;
                if (end < start)
                    end = start;
                memset(row, 0, sizeof(float) * (size_t)start);
                memcpy(row + start, xc + start + shift, sizeof(float) * (size_t)(end - start));
                memset(row + end, 0, sizeof(float) * (size_t)(hw - end));
                if (dj > 0)
                    for (int i = 0; i < h; i++)
                        for (int j = w - dj; j < w; j++)
                            row[(long)i * w + j] = 0.0f;
                else if (dj < 0)
                    for (int i = 0; i < h; i++)
                        for (int j = 0; j < -dj; j++)
                            row[(long)i * w + j] = 0.0f;
            }
    }
}

/* GCC would turn the row loops back into memcpy/memset calls, whose call overhead
 * dominates on 28-float rows. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void glia_im2col(const float *x, int c, int h,
                                                                               int w, int kernel, int stride,
                                                                               int pad, int oh_n, int ow_n,
                                                                               float *col, size_t ld)
{
    if (stride == 1 && oh_n == h && ow_n == w && pad < w && pad < h) {
        im2col_same(x, c, h, w, kernel, pad, col, ld);
        return;
    }
    for (int ci = 0; ci < c; ci++) {
        const float *xc = x + (size_t)ci * h * w;
        for (int ki = 0; ki < kernel; ki++) {
            for (int kj = 0; kj < kernel; kj++) {
                float *row = col + ((size_t)(ci * kernel + ki) * kernel + kj) * ld;
                int lo, hi;
                valid_range(w, ow_n, stride, pad, kj, &lo, &hi);
                for (int oh = 0; oh < oh_n; oh++) {
                    float *dst = row + (size_t)oh * ow_n;
                    int ih = oh * stride - pad + ki;
                    if (ih < 0 || ih >= h) {
                        memset(dst, 0, sizeof(float) * (size_t)ow_n);
                        continue;
                    }
                    /* index arithmetic, not a pointer before the row: kj - pad may be < 0 */
                    const float *src = xc + (size_t)ih * w;
                    int off = kj - pad;
                    for (int ow = 0; ow < lo; ow++)
                        dst[ow] = 0.0f;
                    if (stride == 1) {
                        /* rows are short (28 floats for MNIST): an inline loop beats a
                         * memcpy call; see the attribute on this function */
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow] = src[ow + off];
                    } else {
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow] = src[ow * stride + off];
                    }
                    for (int ow = hi; ow < ow_n; ow++)
                        dst[ow] = 0.0f;
                }
            }
        }
    }
}

void glia_col2im(const float *col, size_t ld, int c, int h, int w, int kernel, int stride, int pad, int oh_n,
                 int ow_n, float *dx)
{
    for (int ci = 0; ci < c; ci++) {
        float *dc = dx + (size_t)ci * h * w;
        for (int ki = 0; ki < kernel; ki++) {
            for (int kj = 0; kj < kernel; kj++) {
                const float *row = col + ((size_t)(ci * kernel + ki) * kernel + kj) * ld;
                int lo, hi;
                valid_range(w, ow_n, stride, pad, kj, &lo, &hi);
                for (int oh = 0; oh < oh_n; oh++) {
                    int ih = oh * stride - pad + ki;
                    if (ih < 0 || ih >= h)
                        continue;
                    const float *src = row + (size_t)oh * ow_n;
                    float *dst = dc + (size_t)ih * w;
                    int off = kj - pad;
                    if (stride == 1) {
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow + off] += src[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow * stride + off] += src[ow];
                    }
                }
            }
        }
    }
}

void glia_softmax(const float *x, float *y, int n, int k)
{
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * k;
        float *yi = y + (size_t)i * k;
        float max = xi[0];
        for (int j = 1; j < k; j++)
            max = xi[j] > max ? xi[j] : max;
        double sum = 0.0;
        for (int j = 0; j < k; j++) {
            yi[j] = expf(xi[j] - max);
            sum += yi[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < k; j++)
            yi[j] *= inv;
    }
}
