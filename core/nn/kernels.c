/*
 * kernels.c - see kernels.h.
 *
 * im2col walks the output positions in the inner loop so that a stride-1 kernel row
 * becomes a contiguous copy of an input row, which the compiler turns into vector
 * moves; the padding borders are handled by computing the valid [ow_lo, ow_hi) range
 * once per row instead of testing every element.
 */
#include "core/nn/kernels.h"

#include "core/base/err.h"
#include "core/nn/skinny.h"
#include "core/nn/vmath.h"

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

void glia_gemv(int trans_b, int n, int k, float alpha, const float *a, const float *b, int ldb, float beta,
               float *c)
{
    if (n == 0)
        return;
    /* c (1 x n) = a (1 x k) op(B): with B (n x k) that is B a, with B (k x n) it is B^T a */
    if (trans_b)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, alpha, b, ldb, a, 1, beta, c, 1);
    else
        cblas_sgemv(CblasRowMajor, CblasTrans, k, n, alpha, b, ldb, a, 1, beta, c, 1);
}

void glia_linear_forward(const float *x, int n, int in, const float *w, const float *b, int out, float *y,
                         int ldy)
{
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * (size_t)ldy, b, sizeof(float) * (size_t)out);
    glia_gemm(0, 1, n, out, in, 1.0f, x, in, w, in, 1.0f, y, ldy);
}

void glia_linear_forward_few(const float *x, int n, int in, const float *w, const float *b, int out, float *y,
                             int ldy)
{
    if (n <= GLIA_LINEAR_SKINNY_ROWS && glia_skinny_available()) {
        glia_skinny_linear(x, n, in, w, b, out, y, ldy);
        return;
    }
    if (n > GLIA_LINEAR_GEMV_ROWS) {
        glia_linear_forward(x, n, in, w, b, out, y, ldy);
        return;
    }
    for (int i = 0; i < n; i++) {
        float *row = y + (size_t)i * (size_t)ldy;
        memcpy(row, b, sizeof(float) * (size_t)out);
        glia_gemv(1, out, in, 1.0f, x + (size_t)i * (size_t)in, w, in, 1.0f, row);
    }
}

void glia_linear_backward(const float *x, int n, int in, const float *w, float *dw, float *db, int out,
                          const float *dy, int lddy, float *dx, float beta)
{
    if (dw)
        glia_gemm(1, 0, out, in, n, 1.0f, dy, lddy, x, in, 1.0f, dw, in);
    if (db)
        for (int i = 0; i < n; i++) {
            const float *restrict r = dy + (size_t)i * (size_t)lddy;
            for (int j = 0; j < out; j++)
                db[j] += r[j];
        }
    if (dx)
        glia_gemm(0, 0, n, in, out, 1.0f, dy, lddy, w, in, beta, dx, in);
}

static float dropout_scale(float p)
{
    return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
}

/* v where keep is 1, +0 where it is 0, as bits: `keep ? v : 0.0f` became a branch that GCC
 * would not vectorise (under -ftrapping-math it does not execute the multiply that makes v on
 * both paths), and v * keep would give NaN for an infinite v and -0 for a negative one. */
static inline float kept_or_zero(float v, int keep)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= 0u - (uint32_t)keep;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Draws per block of glia_dropout_forward: the uniform numbers are made in a block (one call,
 * the generator's state in registers), then the block is masked and scaled by a loop the
 * compiler vectorises. */
#define DROPOUT_BLOCK 512

void glia_dropout_forward(const float *x, float *y, uint8_t *keep, size_t n, float p, glia_rng *rng)
{
    const float scale = dropout_scale(p);
    float u[DROPOUT_BLOCK];
    for (size_t at = 0; at < n; at += DROPOUT_BLOCK) {
        const size_t m = n - at < DROPOUT_BLOCK ? n - at : DROPOUT_BLOCK;
        glia_rng_uniform_fill(rng, u, m);
        const float *xb = x + at;
        float *yb = y + at;
        for (size_t i = 0; i < m; i++)
            yb[i] = kept_or_zero(xb[i] * scale, u[i] >= p);
        if (keep)
            for (size_t i = 0; i < m; i++)
                keep[at + i] = (uint8_t)(u[i] >= p);
    }
}

void glia_dropout_backward(const float *dy, float *dx, const uint8_t *keep, size_t n, float p)
{
    const float scale = dropout_scale(p);
    for (size_t i = 0; i < n; i++)
        dx[i] = kept_or_zero(dy[i] * scale, keep[i] != 0);
}

void glia_relu_backward(const float *y, float *d, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        d[i] = kept_or_zero(d[i] * scale, y[i] > 0.0f);
}

double glia_sum_f64(const float *x, size_t n)
{
    double part[8] = {0.0};
    const size_t nb = n - n % 8;
    for (size_t i = 0; i < nb; i += 8)
        for (int l = 0; l < 8; l++)
            part[l] += x[i + (size_t)l];
    for (size_t i = nb; i < n; i++)
        part[0] += x[i];
    double s = 0.0;
    for (int l = 0; l < 8; l++)
        s += part[l];
    return s;
}

int glia_argmax(const float *x, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (x[j] > x[best])
            best = j;
    return best;
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

/* ---- direct convolution ----
 *
 * Why: at batch 1 an im2col + GEMM convolution copies every input k*k times, and
 * OpenBLAS then packs that copy once more before its kernel runs; on fashion-cnn those
 * copies and the scatter of the result were a quarter of the latency. Here the input
 * is copied once, into a zero-bordered plane whose rows are padded to whole vectors,
 * and each output vector (16 columns of one output row) is a sum of k*k*c unaligned
 * loads times broadcast weights. A block of DR output vectors x DO output channels
 * (24 zmm accumulators) keeps the FMA units busy: each tap loads DR vectors and DO
 * weights for DR*DO FMAs. Columns past the row end are computed on the padding and
 * masked off at the store; the last one or two vectors get a narrower block. */
enum { DR = 3, DO = 8, DIRECT_MAX_OW = 64 };

static int direct_on = 1;

void glia_conv_direct_enable(int on)
{
    direct_on = on;
}

/* the direct kernels are AVX-512F: the core's one CPU check (vmath.h) says whether it runs */
static int have_avx512(void)
{
    return glia_vmath_available(GLIA_VMATH_AVX512);
}

int glia_conv_direct_ok(int h, int w, int k, int stride, int pad)
{
    int oh = h + 2 * pad - k + 1, ow = w + 2 * pad - k + 1;
    return direct_on && stride == 1 && pad >= 0 && pad < k && oh > 0 && ow > 0 && ow <= DIRECT_MAX_OW &&
           have_avx512();
}

/* Flat vectors (see direct_block) when they save vectors; needs rows of at least 16
 * so that a vector spans at most two output rows. */
static int direct_flat(int oh, int ow, int k)
{
    int wp = ow + k - 1;
    return ow >= 16 && (oh * wp + 15) / 16 < oh * ((ow + 15) / 16);
}

/* padded row length: the padded input row (flat), or whole vectors of output columns
 * plus the k - 1 taps beyond */
static int direct_wp(int oh, int ow, int k)
{
    return direct_flat(oh, ow, k) ? ow + k - 1 : (ow + 15) / 16 * 16 + k - 1;
}

static size_t direct_plane(int h, int oh, int ow, int k, int pad)
{
    return (size_t)(h + 2 * pad) * (size_t)direct_wp(oh, ow, k);
}

/* zeros after the last plane: the last flat vector, past the last row, still loads
 * up to 15 + k - 1 floats beyond it (into lanes never stored) */
static size_t direct_slack(int k)
{
    return (size_t)16 + (size_t)k;
}

size_t glia_conv_direct_scratch(int c, int h, int w, int k, int pad)
{
    int oh = h + 2 * pad - k + 1, ow = w + 2 * pad - k + 1;
    return direct_plane(h, oh, ow, k, pad) * (size_t)c + direct_slack(k);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

/* One block: dr output vectors (vectors r0 .. r0+dr-1) x DO output channels from wo[].
 * Always inlined with constant dr and flat, so acc[][] lives in registers. Vector q is
 * 16 columns of one output row (nvec per row), or with flat, the 16 positions from
 * q*16 of the padded grid (rows of wp = ow + k - 1): a 28-wide output then needs 53
 * vectors instead of 56, the lanes on the 2 padding columns being the only waste. */
__attribute__((target("avx512f"), always_inline)) static inline void
direct_block(const float *xp, int c, size_t plane, int wp, int k, const float *const *wo, const float *b,
             int o0, int oc, int r0, const int dr, const int flat, int nvec, int oh_n, int ow_n, size_t ohw,
             int relu, float *y)
{
    const int kk = k * k;
    const float *xr[DR];
    __m512 acc[DR][DO];
#pragma GCC unroll 8
    for (int r = 0; r < dr; r++) {
        xr[r] =
            flat ? xp + (size_t)(r0 + r) * 16 : xp + (size_t)((r0 + r) / nvec) * wp + ((r0 + r) % nvec) * 16;
#pragma GCC unroll 8
        for (int j = 0; j < DO; j++)
            acc[r][j] = _mm512_set1_ps(b[j]);
    }
    for (int ci = 0; ci < c; ci++) {
        const size_t xoff = (size_t)ci * plane;
        for (int ki = 0; ki < k; ki++) {
            for (int kj = 0; kj < k; kj++) {
                const size_t off = xoff + (size_t)ki * wp + kj;
                const int t = ci * kk + ki * k + kj;
                __m512 v[DR];
#pragma GCC unroll 8
                for (int r = 0; r < dr; r++)
                    v[r] = _mm512_loadu_ps(xr[r] + off);
#pragma GCC unroll 8
                for (int j = 0; j < DO; j++) {
                    const __m512 wv = _mm512_set1_ps(wo[j][t]);
#pragma GCC unroll 8
                    for (int r = 0; r < dr; r++)
                        acc[r][j] = _mm512_fmadd_ps(v[r], wv, acc[r][j]);
                }
            }
        }
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < dr; r++) {
        /* where the lanes go: m1 from lane 0 at y1, and with flat, m2 (the start of the
         * next row) at y2 + lane; lanes on padding columns or past the last row in neither */
        size_t y1, y2 = 0;
        unsigned m1, m2 = 0;
        if (flat) {
            const int p = (r0 + r) * 16, ra = p / wp, ca = p % wp, s2 = wp - ca;
            const int n1 = ra < oh_n && ca < ow_n ? (ow_n - ca < 16 ? ow_n - ca : 16) : 0;
            m1 = (1u << n1) - 1u;
            y1 = (size_t)ra * ow_n + ca;
            if (s2 < 16 && ra + 1 < oh_n) {
                const int e2 = s2 + ow_n < 16 ? s2 + ow_n : 16;
                m2 = ((1u << e2) - 1u) & ~((1u << s2) - 1u);
                y2 = (size_t)(ra + 1) * ow_n - (size_t)s2; /* >= 0: ca > wp - 16 >= k - 1 */
            }
        } else {
            const int oh = (r0 + r) / nvec, ow0 = ((r0 + r) % nvec) * 16, left = ow_n - ow0;
            m1 = left >= 16 ? 0xffffu : (1u << left) - 1u;
            y1 = (size_t)oh * ow_n + ow0;
        }
#pragma GCC unroll 8
        for (int j = 0; j < DO; j++) {
            if (o0 + j >= oc)
                break;
            __m512 a = acc[r][j];
            /* ReLU as the layer does it: keep a where a > 0 or a is NaN */
            if (relu)
                a = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, zero, _CMP_NLE_UQ), a);
            float *yo = y + (size_t)(o0 + j) * ohw;
            if (m1)
                _mm512_mask_storeu_ps(yo + y1, (__mmask16)m1, a);
            if (m2)
                _mm512_mask_storeu_ps(yo + y2, (__mmask16)m2, a);
        }
    }
}

__attribute__((target("avx512f"))) static void direct_avx512(const float *xp, int c, size_t plane, int wp,
                                                             int k, const float *weight, size_t wstride,
                                                             const float *bias, int oc, int oh_n, int ow_n,
                                                             int relu, float *y)
{
    const int nvec = (ow_n + 15) / 16, flat = direct_flat(oh_n, ow_n, k);
    const int nrv = flat ? (oh_n * wp + 15) / 16 : oh_n * nvec;
    const size_t ohw = (size_t)oh_n * ow_n;
    for (int o0 = 0; o0 < oc; o0 += DO) {
        const float *wo[DO];
        float b[DO];
        /* a short last block of channels repeats the last one and skips its store */
        for (int j = 0; j < DO; j++) {
            int o = o0 + j < oc ? o0 + j : oc - 1;
            wo[j] = weight + (size_t)o * wstride;
            b[j] = bias ? bias[o] : 0.0f;
        }
        int r0 = 0;
        /* the last one or two vectors get a narrower block (14x14: 14 = 4*3 + 2) */
#define DIRECT_BLOCKS(FLAT)                                                                                  \
    do {                                                                                                     \
        for (; r0 + DR <= nrv; r0 += DR)                                                                     \
            direct_block(xp, c, plane, wp, k, wo, b, o0, oc, r0, DR, FLAT, nvec, oh_n, ow_n, ohw, relu, y);  \
        if (nrv - r0 == 2)                                                                                   \
            direct_block(xp, c, plane, wp, k, wo, b, o0, oc, r0, 2, FLAT, nvec, oh_n, ow_n, ohw, relu, y);   \
        else if (nrv - r0 == 1)                                                                              \
            direct_block(xp, c, plane, wp, k, wo, b, o0, oc, r0, 1, FLAT, nvec, oh_n, ow_n, ohw, relu, y);   \
    } while (0)
        if (flat)
            DIRECT_BLOCKS(1);
        else
            DIRECT_BLOCKS(0);
#undef DIRECT_BLOCKS
    }
}
#endif

void glia_conv_direct(const float *x, const float *gate, int c, int h, int w, const float *weight,
                      size_t wstride, const float *bias, int oc, int k, int pad, int relu, float *y,
                      float *scratch)
{
    const int oh = h + 2 * pad - k + 1, ow = w + 2 * pad - k + 1, wp = direct_wp(oh, ow, k), hp = h + 2 * pad;
    const size_t plane = (size_t)hp * wp;
    /* the zero-bordered copy; the gate (ReLU's y) is applied on the way */
    for (int ci = 0; ci < c; ci++) {
        float *dst = scratch + (size_t)ci * plane;
        const float *src = x + (size_t)ci * h * w;
        const float *gs = gate ? gate + (size_t)ci * h * w : NULL;
        memset(dst, 0, sizeof(float) * (size_t)pad * wp);
        for (int i = 0; i < h; i++) {
            float *row = dst + (size_t)(i + pad) * wp;
            for (int j = 0; j < pad; j++)
                row[j] = 0.0f;
            if (gs)
                for (int j = 0; j < w; j++) {
                    float v = src[(size_t)i * w + j];
                    row[pad + j] = gs[(size_t)i * w + j] > 0.0f ? v : 0.0f;
                }
            else
                for (int j = 0; j < w; j++)
                    row[pad + j] = src[(size_t)i * w + j];
            for (int j = pad + w; j < wp; j++)
                row[j] = 0.0f;
        }
        memset(dst + (size_t)(h + pad) * wp, 0, sizeof(float) * (size_t)pad * wp);
    }
    memset(scratch + (size_t)c * plane, 0, sizeof(float) * direct_slack(k));
#if defined(__GNUC__) && defined(__x86_64__)
    direct_avx512(scratch, c, plane, wp, k, weight, wstride, bias, oc, oh, ow, relu, y);
#else
    GLIA_ASSERT(!"glia_conv_direct without AVX-512");
#endif
}

/* "No dependence between iterations": the Winograd loops' planes share one buffer, and
 * without it GCC gives up proving they do not overlap and leaves the loops scalar. Not for
 * clang (the fuzz build): its vectorize(assume_safety) turns into an error wherever the
 * sanitizers keep it from vectorising, and GCC's pragma is unknown to it. */
#if defined(__clang__)
#define WINOGRAD_IVDEP
#define WINOGRAD_UNROLL
#elif defined(__GNUC__)
#define WINOGRAD_IVDEP  _Pragma("GCC ivdep")
/* F(4x4)'s 6x6 tile loops: GCC vectorises a tile loop across tiles only once the small loops
 * inside are unrolled, which it does not do by itself at this size (scalar: 0.41x). Not for
 * clang, for the reason above. */
#define WINOGRAD_UNROLL _Pragma("GCC unroll 8")
#else
#define WINOGRAD_IVDEP
#define WINOGRAD_UNROLL
#endif

/* ---- Winograd F(2x2, 3x3) ----
 *
 * With the matrices of Lavin and Gray:
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   (input tile d, 4x4)
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]  (filter g, 3x3)
 *   A^T = [1 1 1 0; 0 1 -1 -1]                       (output tile, 2x2)
 * Layouts: u[xi][o][ci], v[xi][ci][tile], m[xi][o][tile], xi = 4 * row + column of the 4x4
 * transformed tile, tile = ty * tw + tx; so the GEMM of point xi is m[xi] = u[xi] v[xi]. The
 * input is first copied into a zero-bordered plane (1 row and column before, enough after for
 * whole tiles), so the tile loops read without bounds tests, in tile order, which the compiler
 * vectorises across tiles. */
int glia_winograd_ok(int k, int stride, int pad)
{
    return k == 3 && stride == 1 && pad == 1;
}

size_t glia_winograd_weight_floats(int oc, int c)
{
    return (size_t)16 * (size_t)oc * (size_t)c;
}

/* u's 16 planes from nb filters w (nb, 9): their taps transposed to g[k][f] (k = 3 row +
 * column), then element-wise over f. */
#define WINOGRAD_WEIGHTS_BODY                                                                                \
    for (int k = 0; k < 9; k++)                                                                              \
        for (size_t f = 0; f < nb; f++)                                                                      \
            g[k * 256 + (int)f] = w[f * 9 + (size_t)k];                                                      \
    WINOGRAD_IVDEP for (size_t f = 0; f < nb; f++)                                                           \
    {                                                                                                        \
        float t[4][3]; /* G g */                                                                             \
        for (int j = 0; j < 3; j++) {                                                                        \
            t[0][j] = g[j * 256 + f];                                                                        \
            t[1][j] = 0.5f * (g[j * 256 + f] + g[(3 + j) * 256 + f] + g[(6 + j) * 256 + f]);                 \
            t[2][j] = 0.5f * (g[j * 256 + f] - g[(3 + j) * 256 + f] + g[(6 + j) * 256 + f]);                 \
            t[3][j] = g[(6 + j) * 256 + f];                                                                  \
        }                                                                                                    \
        for (int i = 0; i < 4; i++) { /* (G g) G^T */                                                        \
            d[(size_t)(4 * i + 0) * nf + f] = t[i][0];                                                       \
            d[(size_t)(4 * i + 1) * nf + f] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);                          \
            d[(size_t)(4 * i + 2) * nf + f] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);                          \
            d[(size_t)(4 * i + 3) * nf + f] = t[i][2];                                                       \
        }                                                                                                    \
    }
#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx512f"))) static void
winograd_weights_avx512(const float *restrict w, float *restrict g, size_t nb, float *restrict d, size_t nf)
{
    WINOGRAD_WEIGHTS_BODY
}
#endif
static void winograd_weights_base(const float *restrict w, float *restrict g, size_t nb, float *restrict d,
                                  size_t nf)
{
    WINOGRAD_WEIGHTS_BODY
}
#undef WINOGRAD_WEIGHTS_BODY

void glia_winograd_weights(const float *weight, int oc, int c, float *u)
{
    /* blocks of 256 filters: their taps transposed to g[k][f], then element-wise over f */
    const size_t nf = (size_t)oc * c;
    float g[9 * 256];
    for (size_t f0 = 0; f0 < nf; f0 += 256) {
        const size_t nb = nf - f0 < 256 ? nf - f0 : 256;
#if defined(__GNUC__) && defined(__x86_64__)
        if (have_avx512()) {
            winograd_weights_avx512(weight + f0 * 9, g, nb, u + f0, nf);
            continue;
        }
#endif
        winograd_weights_base(weight + f0 * 9, g, nb, u + f0, nf);
    }
}

/* The element-wise parts of the Winograd transforms, over nt tiles; each is compiled twice,
 * for AVX-512 and for the baseline, and picked at run time (the build targets baseline
 * x86-64, where they would run 4 lanes wide). ivdep: their 16 input or output planes lie in
 * one buffer, and GCC would otherwise give up proving they do not overlap. */
#define WINOGRAD_INPUT_BODY                                                                                  \
    WINOGRAD_IVDEP for (size_t t = 0; t < nt; t++)                                                           \
    {                                                                                                        \
        float b[4][4]; /* B^T d, d[i][j] from the parity plane (i % 2, j % 2) */                             \
        for (int j = 0; j < 4; j++) {                                                                        \
            const float *e = j % 2 ? q1 : q0, *o = j % 2 ? q3 : q2; /* rows of even, odd parity */           \
            const size_t at = t + (size_t)(j / 2);                                                           \
            const float d0 = e[at], d1 = o[at], d2 = e[at + tw1], d3 = o[at + tw1];                          \
            b[0][j] = d0 - d2;                                                                               \
            b[1][j] = d1 + d2;                                                                               \
            b[2][j] = d2 - d1;                                                                               \
            b[3][j] = d1 - d3;                                                                               \
        }                                                                                                    \
        for (int i = 0; i < 4; i++) { /* (B^T d) B */                                                        \
            v[(size_t)(4 * i + 0) * vplane + t] = b[i][0] - b[i][2];                                         \
            v[(size_t)(4 * i + 1) * vplane + t] = b[i][1] + b[i][2];                                         \
            v[(size_t)(4 * i + 2) * vplane + t] = b[i][2] - b[i][1];                                         \
            v[(size_t)(4 * i + 3) * vplane + t] = b[i][1] - b[i][3];                                         \
        }                                                                                                    \
    }
#define WINOGRAD_OUTPUT_BODY                                                                                 \
    WINOGRAD_IVDEP for (size_t t = 0; t < nt; t++)                                                           \
    {                                                                                                        \
        float s[2][4]; /* A^T m */                                                                           \
        for (int j = 0; j < 4; j++) {                                                                        \
            const float m0 = m[(size_t)j * mplane + t], m1 = m[(size_t)(4 + j) * mplane + t];                \
            const float m2 = m[(size_t)(8 + j) * mplane + t], m3 = m[(size_t)(12 + j) * mplane + t];         \
            s[0][j] = m0 + m1 + m2;                                                                          \
            s[1][j] = m1 - m2 - m3;                                                                          \
        }                                                                                                    \
        for (int i = 0; i < 2; i++) {                                                                        \
            q[(size_t)(2 * i) * nt + t] = s[i][0] + s[i][1] + s[i][2] + bias;                                \
            q[(size_t)(2 * i + 1) * nt + t] = s[i][1] - s[i][2] - s[i][3] + bias;                            \
        }                                                                                                    \
    }                                                                                                        \
    if (relu) /* activation.c's ReLU: NaN kept */                                                            \
        WINOGRAD_IVDEP for (size_t t = 0; t < 4 * nt; t++) q[t] =                                            \
            (q[t] > 0.0f) | (q[t] != q[t]) ? q[t] : 0.0f;
/* With a 2x2 stride-2 max-pool after it: each tile's 2x2 outputs (the 4 planes of q, after
 * WINOGRAD_OUTPUT_BODY's bias and ReLU) are one pooling window, so the tile's maximum is the
 * pool's output, in pool2d.c's order and NaN rule (a later value wins if larger or NaN), over
 * the whole plane of tiles (rows of a few tiles are too short for a vector), into the first
 * plane; the caller copies its rows of whole tiles out: no scatter into the conv's output and no
 * pooling pass over it. */
#define WINOGRAD_POOL_BODY                                                                                   \
    WINOGRAD_IVDEP for (size_t t = 0; t < nt; t++)                                                           \
    {                                                                                                        \
        float best = q[t];                                                                                   \
        const float b1 = q[nt + t], b2 = q[2 * nt + t], b3 = q[3 * nt + t];                                  \
        best = (b1 > best) | (b1 != b1) ? b1 : best;                                                         \
        best = (b2 > best) | (b2 != b2) ? b2 : best;                                                         \
        best = (b3 > best) | (b3 != b3) ? b3 : best;                                                         \
        q[t] = best;                                                                                         \
    }
/* The output's 4 tile positions (q[2 i + j][ty * tw1 + tx]) into y (h, w): strided stores. */
#define WINOGRAD_SCATTER_BODY                                                                                \
    for (int oy = 0; oy < h; oy++) {                                                                         \
        const float *q0 = q + (size_t)(2 * (oy % 2)) * nt + (size_t)(oy / 2) * tw1, *q1 = q0 + nt;           \
        float *yr = y + (size_t)oy * w;                                                                      \
        WINOGRAD_IVDEP for (int tx = 0; tx < w / 2; tx++)                                                    \
        {                                                                                                    \
            yr[2 * tx] = q0[tx];                                                                             \
            yr[2 * tx + 1] = q1[tx];                                                                         \
        }                                                                                                    \
        if (w % 2)                                                                                           \
            yr[w - 1] = q0[w / 2];                                                                           \
    }

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx512f"))) static void
winograd_input_avx512(const float *restrict q0, const float *restrict q1, const float *restrict q2,
                      const float *restrict q3, size_t tw1, size_t nt, float *restrict v, size_t vplane)
{
    WINOGRAD_INPUT_BODY
}
__attribute__((target("avx512f"))) static void winograd_output_avx512(const float *restrict m, size_t mplane,
                                                                      size_t nt, float bias, int relu,
                                                                      float *restrict q)
{
    WINOGRAD_OUTPUT_BODY
}
__attribute__((target("avx512f"))) static void winograd_pool_avx512(float *q, size_t nt)
{
    WINOGRAD_POOL_BODY
}
__attribute__((target("avx512f"))) static void
winograd_scatter_avx512(const float *restrict q, size_t nt, int h, int w, int tw1, float *restrict y)
{
    WINOGRAD_SCATTER_BODY
}
#endif
static void winograd_input_base(const float *restrict q0, const float *restrict q1, const float *restrict q2,
                                const float *restrict q3, size_t tw1, size_t nt, float *restrict v,
                                size_t vplane)
{
    WINOGRAD_INPUT_BODY
}
static void winograd_output_base(const float *restrict m, size_t mplane, size_t nt, float bias, int relu,
                                 float *restrict q)
{
    WINOGRAD_OUTPUT_BODY
}
static void winograd_pool_base(float *q, size_t nt)
{
    WINOGRAD_POOL_BODY
}
static void winograd_scatter_base(const float *restrict q, size_t nt, int h, int w, int tw1,
                                  float *restrict y)
{
    WINOGRAD_SCATTER_BODY
}
#undef WINOGRAD_INPUT_BODY
#undef WINOGRAD_OUTPUT_BODY
#undef WINOGRAD_POOL_BODY
#undef WINOGRAD_SCATTER_BODY

/* q: the 4 parity planes (row parity 2 a + column parity b), rows of tw1 */
static void winograd_input(const float *q, size_t plane, size_t tw1, size_t nt, float *v, size_t vplane)
{
    const float *q00 = q, *q01 = q + plane, *q10 = q + 2 * plane, *q11 = q + 3 * plane;
#if defined(__GNUC__) && defined(__x86_64__)
    if (have_avx512()) {
        winograd_input_avx512(q00, q01, q10, q11, tw1, nt, v, vplane);
        return;
    }
#endif
    winograd_input_base(q00, q01, q10, q11, tw1, nt, v, vplane);
}

static void winograd_output(const float *m, size_t mplane, size_t nt, float bias, int relu, float *q)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (have_avx512()) {
        winograd_output_avx512(m, mplane, nt, bias, relu, q);
        return;
    }
#endif
    winograd_output_base(m, mplane, nt, bias, relu, q);
}

static void winograd_pool(float *q, size_t nt)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (have_avx512()) {
        winograd_pool_avx512(q, nt);
        return;
    }
#endif
    winograd_pool_base(q, nt);
}

static void winograd_scatter(const float *q, size_t nt, int h, int w, int tw1, float *y)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (have_avx512()) {
        winograd_scatter_avx512(q, nt, h, w, tw1, y);
        return;
    }
#endif
    winograd_scatter_base(q, nt, h, w, tw1, y);
}

/* Tiles of the padded grid: th rows of tw1 = tw + 1, the last column of each row a dummy tile
 * (whose outputs are dropped) that makes every tile position a fixed offset into a parity
 * plane: tile t = ty * tw1 + tx, position (i, j) is plane (i % 2, j % 2) at t + (i / 2) tw1 + j / 2. */
static size_t winograd_tiles(int h, int w)
{
    return (size_t)((h + 1) / 2) * (size_t)((w + 1) / 2 + 1);
}

/* one parity plane: th + 1 rows of tw1, and one float of slack for the last dummy tile */
static size_t winograd_parity_plane(int h, int w)
{
    return (size_t)((h + 1) / 2 + 1) * (size_t)((w + 1) / 2 + 1) + 1;
}

size_t glia_winograd_scratch(int c, int oc, int h, int w)
{
    const size_t t = winograd_tiles(h, w);
    /* v, m, the 4 parity planes, and the 4 output planes */
    return (size_t)16 * (size_t)c * t + (size_t)16 * (size_t)oc * t + 4 * winograd_parity_plane(h, w) + 4 * t;
}

/* The transforms run element-wise over all tiles of a plane, so that they vectorise: the input
 * is split by row and column parity into 4 planes in which each of a tile's 16 positions is a
 * fixed offset (winograd_tiles), and the output's 4 positions are computed into planes, then
 * scattered into y. */
void glia_winograd_conv(const float *x, int c, int h, int w, const float *u, const float *bias, int oc,
                        int relu, int pool, float *y, float *scratch)
{
    const int th = (h + 1) / 2, tw1 = (w + 1) / 2 + 1;
    const size_t nt = winograd_tiles(h, w), vplane = (size_t)c * nt, mplane = (size_t)oc * nt;
    const size_t pplane = winograd_parity_plane(h, w);
    float *v = scratch, *m = v + 16 * vplane, *par = m + 16 * mplane, *q = par + 4 * pplane;
    (void)th;
    memset(par, 0, sizeof(float) * 4 * pplane);
    for (int ci = 0; ci < c; ci++) {
        const float *xc = x + (size_t)ci * h * w;
        /* input (r, col) is padded-grid (r + 1, col + 1): plane (a, b) = ((r + 1) % 2, (col + 1) % 2),
         * row (r + 1) / 2, column (col + 1) / 2; the zero border is never written */
        for (int r = 0; r < h; r++) {
            const int a = (r + 1) % 2;
            const float *xr = xc + (size_t)r * w;
            float *even = par + (size_t)(2 * a + 1) * pplane + (size_t)((r + 1) / 2) * tw1; /* col 2k -> k */
            float *odd =
                par + (size_t)(2 * a) * pplane + (size_t)((r + 1) / 2) * tw1 + 1; /* col 2k+1 -> k+1 */
            for (int k = 0; 2 * k < w; k++)
                even[k] = xr[2 * k];
            for (int k = 0; 2 * k + 1 < w; k++)
                odd[k] = xr[2 * k + 1];
        }
        winograd_input(par, pplane, (size_t)tw1, nt, v + (size_t)ci * nt, vplane);
    }
    for (int xi = 0; xi < 16; xi++)
        glia_gemm(0, 0, oc, (int)nt, c, 1.0f, u + (size_t)xi * oc * c, c, v + (size_t)xi * vplane, (int)nt,
                  0.0f, m + (size_t)xi * mplane, (int)nt);
    if (pool) {
        /* the tiles wholly inside the image are the pool's windows (floor, as PyTorch's) */
        const int ph = h / 2, pw = w / 2;
        for (int o = 0; o < oc; o++) {
            winograd_output(m + (size_t)o * nt, mplane, nt, bias ? bias[o] : 0.0f, relu, q);
            winograd_pool(q, nt);
            float *yo = y + (size_t)o * ph * pw;
            for (int ty = 0; ty < ph; ty++)
                memcpy(yo + (size_t)ty * pw, q + (size_t)ty * tw1, sizeof(float) * (size_t)pw);
        }
        return;
    }
    for (int o = 0; o < oc; o++) {
        winograd_output(m + (size_t)o * nt, mplane, nt, bias ? bias[o] : 0.0f, relu, q);
        winograd_scatter(q, nt, h, w, tw1, y + (size_t)o * h * w);
    }
}

/* ---- Winograd F(4x4, 3x3) with a 2x2 max-pool after it ----
 *
 * Lavin and Gray's larger tiles: a 4x4 output tile from its 6x6 input tile, 36 multiplies per
 * tile and input channel for 16 outputs (F(2x2)'s 16 give 4): 1.78x fewer than F(2x2) where
 * the image fills whole tiles. Taken only with the pool (the inference plan's conv + ReLU +
 * 2x2 max-pool): each tile then pools to a 2x2 block, which lands in the same planes as an
 * F(2x2) tile's outputs, so winograd_scatter puts it in place.
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * Layouts as F(2x2)'s with 36 points; the padded input is split by row and column phase mod 4
 * into 16 planes, so that each of a tile's 36 positions is again a fixed offset. */
size_t glia_winograd4_weight_floats(int oc, int c)
{
    return (size_t)36 * (size_t)oc * (size_t)c;
}

void glia_winograd4_weights(const float *weight, int oc, int c, float *u)
{
    /* once per weights generation (net.c): plain loops */
    const size_t nf = (size_t)oc * c;
    for (size_t f = 0; f < nf; f++) {
        const float *g = weight + f * 9;
        float t[6][3]; /* G g */
        for (int j = 0; j < 3; j++) {
            const float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
            t[0][j] = g0 / 4.0f;
            t[1][j] = -(g0 + g1 + g2) / 6.0f;
            t[2][j] = -(g0 - g1 + g2) / 6.0f;
            t[3][j] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
            t[4][j] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
            t[5][j] = g2;
        }
        for (int i = 0; i < 6; i++) { /* (G g) G^T */
            const float a0 = t[i][0], a1 = t[i][1], a2 = t[i][2];
            const float r[6] = {a0 / 4.0f,
                                -(a0 + a1 + a2) / 6.0f,
                                -(a0 - a1 + a2) / 6.0f,
                                a0 / 24.0f + a1 / 12.0f + a2 / 6.0f,
                                a0 / 24.0f - a1 / 12.0f + a2 / 6.0f,
                                a2};
            for (int j = 0; j < 6; j++)
                u[(size_t)(6 * i + j) * nf + f] = r[j];
        }
    }
}

/* tile rows and columns: each tile pools to 2x2 of the (h / 2, w / 2) output */
static int w4_tiles_h(int h)
{
    return (h / 2 + 1) / 2;
}

static size_t winograd4_tiles(int h, int w)
{
    return (size_t)w4_tiles_h(h) * (size_t)(w4_tiles_h(w) + 1);
}

/* one phase plane: th + 1 rows of tw1, and one float of slack for the last dummy tile */
static size_t winograd4_phase_plane(int h, int w)
{
    return (size_t)(w4_tiles_h(h) + 1) * (size_t)(w4_tiles_h(w) + 1) + 1;
}

size_t glia_winograd4_scratch(int c, int oc, int h, int w)
{
    const size_t t = winograd4_tiles(h, w);
    /* v, m, the 16 phase planes, and the 4 pooled planes */
    return (size_t)36 * (size_t)c * t + (size_t)36 * (size_t)oc * t + 16 * winograd4_phase_plane(h, w) +
           4 * t;
}

/* B^T d of a 6-vector, in place of r */
#define W4_BT(d0, d1, d2, d3, d4, d5, r)                                                                     \
    do {                                                                                                     \
        r[0] = 4.0f * d0 - 5.0f * d2 + d4;                                                                   \
        r[1] = -4.0f * d1 - 4.0f * d2 + d3 + d4;                                                             \
        r[2] = 4.0f * d1 - 4.0f * d2 - d3 + d4;                                                              \
        r[3] = -2.0f * d1 - d2 + 2.0f * d3 + d4;                                                             \
        r[4] = 2.0f * d1 - d2 - 2.0f * d3 + d4;                                                              \
        r[5] = 4.0f * d1 - 5.0f * d3 + d5;                                                                   \
    } while (0)
#define WINOGRAD4_INPUT_BODY                                                                                 \
    WINOGRAD_IVDEP for (size_t t = 0; t < nt; t++)                                                           \
    {                                                                                                        \
        float b[6][6]; /* B^T d, column by column */                                                         \
        WINOGRAD_UNROLL for (int j = 0; j < 6; j++)                                                          \
        {                                                                                                    \
            float d[6];                                                                                      \
            WINOGRAD_UNROLL for (int i = 0; i < 6; i++) d[i] =                                               \
                ph[(size_t)(4 * (i % 4) + j % 4) * pplane + t + (size_t)(i / 4) * tw1 + (size_t)(j / 4)];    \
            float r[6];                                                                                      \
            W4_BT(d[0], d[1], d[2], d[3], d[4], d[5], r);                                                    \
            WINOGRAD_UNROLL for (int i = 0; i < 6; i++) b[i][j] = r[i];                                      \
        }                                                                                                    \
        WINOGRAD_UNROLL for (int i = 0; i < 6; i++)                                                          \
        { /* (B^T d) B */                                                                                    \
            float r[6];                                                                                      \
            W4_BT(b[i][0], b[i][1], b[i][2], b[i][3], b[i][4], b[i][5], r);                                  \
            WINOGRAD_UNROLL for (int j = 0; j < 6; j++) v[(size_t)(6 * i + j) * vplane + t] = r[j];          \
        }                                                                                                    \
    }
/* A^T m of a 6-vector into 4 */
#define W4_AT(m0, m1, m2, m3, m4, m5, s)                                                                     \
    do {                                                                                                     \
        s[0] = m0 + m1 + m2 + m3 + m4;                                                                       \
        s[1] = m1 - m2 + 2.0f * m3 - 2.0f * m4;                                                              \
        s[2] = m1 + m2 + 4.0f * m3 + 4.0f * m4;                                                              \
        s[3] = m1 - m2 + 8.0f * m3 - 8.0f * m4 + m5;                                                         \
    } while (0)
/* the 4x4 outputs (+ bias) pooled 2x2 by pool2d.c's rule into q[2 a + b][t]; the ReLU after,
 * which commutes with the max (NaN kept by both) */
#define WINOGRAD4_OUTPUT_BODY                                                                                \
    WINOGRAD_IVDEP for (size_t t = 0; t < nt; t++)                                                           \
    {                                                                                                        \
        float s[4][6]; /* A^T m */                                                                           \
        WINOGRAD_UNROLL for (int j = 0; j < 6; j++)                                                          \
        {                                                                                                    \
            float r[4];                                                                                      \
            W4_AT(m[(size_t)j * mplane + t], m[(size_t)(6 + j) * mplane + t],                                \
                  m[(size_t)(12 + j) * mplane + t], m[(size_t)(18 + j) * mplane + t],                        \
                  m[(size_t)(24 + j) * mplane + t], m[(size_t)(30 + j) * mplane + t], r);                    \
            WINOGRAD_UNROLL for (int i = 0; i < 4; i++) s[i][j] = r[i];                                      \
        }                                                                                                    \
        float o[4][4];                                                                                       \
        WINOGRAD_UNROLL for (int i = 0; i < 4; i++)                                                          \
        {                                                                                                    \
            float r[4];                                                                                      \
            W4_AT(s[i][0], s[i][1], s[i][2], s[i][3], s[i][4], s[i][5], r);                                  \
            WINOGRAD_UNROLL for (int j = 0; j < 4; j++) o[i][j] = r[j] + bias;                               \
        }                                                                                                    \
        WINOGRAD_UNROLL for (int a = 0; a < 2; a++) WINOGRAD_UNROLL for (int e = 0; e < 2; e++)              \
        {                                                                                                    \
            float best = o[2 * a][2 * e];                                                                    \
            const float b1 = o[2 * a][2 * e + 1], b2 = o[2 * a + 1][2 * e], b3 = o[2 * a + 1][2 * e + 1];    \
            best = (b1 > best) | (b1 != b1) ? b1 : best;                                                     \
            best = (b2 > best) | (b2 != b2) ? b2 : best;                                                     \
            best = (b3 > best) | (b3 != b3) ? b3 : best;                                                     \
            q[(size_t)(2 * a + e) * nt + t] = best;                                                          \
        }                                                                                                    \
    }                                                                                                        \
    if (relu)                                                                                                \
        WINOGRAD_IVDEP for (size_t t = 0; t < 4 * nt; t++) q[t] =                                            \
            (q[t] > 0.0f) | (q[t] != q[t]) ? q[t] : 0.0f;

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx512f"))) static void winograd4_input_avx512(const float *restrict ph, size_t pplane,
                                                                      size_t tw1, size_t nt,
                                                                      float *restrict v, size_t vplane)
{
    WINOGRAD4_INPUT_BODY
}
__attribute__((target("avx512f"))) static void winograd4_output_avx512(const float *restrict m, size_t mplane,
                                                                       size_t nt, float bias, int relu,
                                                                       float *restrict q)
{
    WINOGRAD4_OUTPUT_BODY
}
#endif
static void winograd4_input_base(const float *restrict ph, size_t pplane, size_t tw1, size_t nt,
                                 float *restrict v, size_t vplane)
{
    WINOGRAD4_INPUT_BODY
}
static void winograd4_output_base(const float *restrict m, size_t mplane, size_t nt, float bias, int relu,
                                  float *restrict q)
{
    WINOGRAD4_OUTPUT_BODY
}
#undef WINOGRAD4_INPUT_BODY
#undef WINOGRAD4_OUTPUT_BODY
#undef W4_BT
#undef W4_AT

void glia_winograd4_pool_conv(const float *x, int c, int h, int w, const float *u, const float *bias, int oc,
                              int relu, float *y, float *scratch)
{
    const int tw1 = w4_tiles_h(w) + 1, ph_n = h / 2, pw_n = w / 2;
    const size_t nt = winograd4_tiles(h, w), vplane = (size_t)c * nt, mplane = (size_t)oc * nt;
    const size_t pplane = winograd4_phase_plane(h, w);
    float *v = scratch, *m = v + 36 * vplane, *ph = m + 36 * mplane, *q = ph + 16 * pplane;
    memset(ph, 0, sizeof(float) * 16 * pplane);
    for (int ci = 0; ci < c; ci++) {
        const float *xc = x + (size_t)ci * h * w;
        /* input (r, col) is padded-grid (r + 1, col + 1): phase plane ((r + 1) % 4, (col + 1) % 4),
         * row (r + 1) / 4, column (col + 1) / 4; the zero border is never written */
        for (int r = 0; r < h; r++) {
            const float *xr = xc + (size_t)r * w;
            float *row = ph + (size_t)(4 * ((r + 1) % 4)) * pplane + (size_t)((r + 1) / 4) * tw1;
            /* column phase b holds columns 4 k + b - 1 at k */
            for (int b = 0; b < 4; b++) {
                float *dst = row + (size_t)b * pplane;
                for (int k = b == 0, col = 4 * k + b - 1; col < w; k++, col += 4)
                    dst[k] = xr[col];
            }
        }
#if defined(__GNUC__) && defined(__x86_64__)
        if (have_avx512())
            winograd4_input_avx512(ph, pplane, (size_t)tw1, nt, v + (size_t)ci * nt, vplane);
        else
#endif
            winograd4_input_base(ph, pplane, (size_t)tw1, nt, v + (size_t)ci * nt, vplane);
    }
    for (int xi = 0; xi < 36; xi++)
        glia_gemm(0, 0, oc, (int)nt, c, 1.0f, u + (size_t)xi * oc * c, c, v + (size_t)xi * vplane, (int)nt,
                  0.0f, m + (size_t)xi * mplane, (int)nt);
    for (int o = 0; o < oc; o++) {
        const float b = bias ? bias[o] : 0.0f;
#if defined(__GNUC__) && defined(__x86_64__)
        if (have_avx512())
            winograd4_output_avx512(m + (size_t)o * nt, mplane, nt, b, relu, q);
        else
#endif
            winograd4_output_base(m + (size_t)o * nt, mplane, nt, b, relu, q);
        /* each tile's 2x2 pooled block sits where an F(2x2) tile's outputs do */
        winograd_scatter(q, nt, ph_n, pw_n, tw1, y + (size_t)o * ph_n * pw_n);
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
