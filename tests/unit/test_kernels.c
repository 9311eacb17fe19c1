/*
 * test_kernels.c - the kernels under the layers.
 *
 * glia_gemm against a naive triple loop in double for every transpose combination, odd
 * sizes, sizes past OpenBLAS' blocking, padded leading dimensions and several alpha/beta
 * (beta = 0 must ignore C's old contents, NaN included: layers hand it dirty scratch).
 * glia_im2col against a direct gather, on both of its paths (the "same" convolution's
 * shifted planes and the general one), writing exactly its columns and nothing beside
 * them; glia_col2im as its exact adjoint (<im2col(x), c> = <x, col2im(c)>) that
 * accumulates. glia_softmax against a double reference: rows sum to one, huge and
 * infinite inputs stay finite, in place works. glia_conv_direct (where this CPU runs
 * it) against a direct loop in double, with its ReLU, its gate, a weight stride
 * longer than c*k*k, both of its vector layouts and dirty scratch; and the shapes it
 * must decline (stride 2, pad >= k, rows over 64). glia_dropout_forward/backward against
 * one draw per element of the same stream; glia_relu_backward's mask.
 */
#include "core/base/rng.h"
#include "core/nn/kernels.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *randoms(size_t n, glia_rng *rng)
{
    float *x = malloc(sizeof(float) * (n ? n : 1));
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++)
        x[i] = 2.0f * glia_rng_uniform(rng) - 1.0f;
    return x;
}

/* ---- direct convolution ---- */

/* c, h, w, oc, k, pad: in_channels 1; 28-wide rows (flat vectors); 14-wide (one
 * vector per row, a 2-vector tail block); 16 and 33 columns (whole and masked
 * vectors); 5x5 kernels; pad 0; an output-channel count that is not a multiple of 8. */
static const int direct_cfgs[][6] = {
    {1, 28, 28, 32, 3, 1}, {3, 14, 14, 9, 3, 1}, {2, 16, 16, 8, 3, 1}, {2, 5, 33, 3, 3, 1},
    {2, 9, 20, 5, 5, 2},   {3, 6, 35, 4, 3, 0},  {1, 3, 3, 2, 3, 2},
};

START_TEST(conv_direct_matches_naive)
{
    glia_rng rng;
    glia_rng_seed(&rng, 11);
    for (size_t t = 0; t < sizeof direct_cfgs / sizeof direct_cfgs[0]; t++) {
        const int *v = direct_cfgs[t];
        const int c = v[0], h = v[1], w = v[2], oc = v[3], k = v[4], pad = v[5];
        if (!glia_conv_direct_ok(h, w, k, 1, pad))
            return; /* no AVX-512 here: the layers use im2col + GEMM */
        const int oh = h + 2 * pad - k + 1, ow = w + 2 * pad - k + 1;
        const size_t wstride = (size_t)c * k * k + 3, nx = (size_t)c * h * w, ny = (size_t)oc * oh * ow;
        float *x = randoms(nx, &rng), *gate = randoms(nx, &rng), *wt = randoms(wstride * oc, &rng);
        float *b = randoms((size_t)oc, &rng), *y = malloc(sizeof(float) * ny);
        size_t ns = glia_conv_direct_scratch(c, h, w, k, pad);
        float *scratch = malloc(sizeof(float) * ns);
        ck_assert_ptr_nonnull(y);
        ck_assert_ptr_nonnull(scratch);
        for (int variant = 0; variant < 4; variant++) {
            const int relu = variant & 1, gated = variant >> 1;
            for (size_t i = 0; i < ns; i++)
                scratch[i] = NAN; /* dirty: every value the kernel reads must be written first */
            glia_conv_direct(x, gated ? gate : NULL, c, h, w, wt, wstride, variant == 2 ? NULL : b, oc, k,
                             pad, relu, y, scratch);
            for (int o = 0; o < oc; o++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++) {
                        double acc = variant == 2 ? 0.0 : b[o];
                        for (int ci = 0; ci < c; ci++)
                            for (int a = 0; a < k; a++)
                                for (int e = 0; e < k; e++) {
                                    int ih = i - pad + a, iw = j - pad + e;
                                    if (ih < 0 || ih >= h || iw < 0 || iw >= w)
                                        continue;
                                    size_t xi = ((size_t)ci * h + ih) * w + iw;
                                    if (gated && !(gate[xi] > 0.0f))
                                        continue;
                                    acc += (double)wt[o * wstride + ((size_t)ci * k + a) * k + e] * x[xi];
                                }
                        if (relu && acc < 0.0)
                            acc = 0.0;
                        float got = y[((size_t)o * oh + i) * ow + j];
                        ck_assert_msg(fabs(got - acc) <= 1e-5 * fmax(1.0, fabs(acc)),
                                      "config %zu variant %d y[%d][%d][%d]: %.8g, expected %.8g", t, variant,
                                      o, i, j, got, acc);
                    }
        }
        free(x);
        free(gate);
        free(wt);
        free(b);
        free(y);
        free(scratch);
    }
}
END_TEST

/* glia_winograd_conv (with glia_winograd_weights) against a direct loop in double: even and
 * odd sizes (a last row and column of tiles half outside), one and several channels, bias or
 * none, ReLU or none, dirty scratch; with the 2x2 max-pool inside, the bits of pooling its
 * output; and the shapes it declines. */
/* Output (o, i, j) of a 3x3, stride 1, padding 1 convolution of x (c, h, w) with wt (oc, c, 3, 3)
 * and bias (or NULL), in double; *mag gets the sum of its terms' magnitudes. */
static double naive_conv3(const float *x, int c, int h, int w, const float *wt, const float *bias, int o,
                          int i, int j, double *mag)
{
    double acc = bias ? bias[o] : 0.0;
    *mag = fabs(acc);
    for (int ci = 0; ci < c; ci++)
        for (int a = 0; a < 3; a++)
            for (int e = 0; e < 3; e++) {
                const int ih = i - 1 + a, iw = j - 1 + e;
                if (ih < 0 || ih >= h || iw < 0 || iw >= w)
                    continue;
                const double p =
                    (double)wt[((size_t)(o * c + ci) * 3 + a) * 3 + e] * x[((size_t)ci * h + ih) * w + iw];
                acc += p;
                *mag += fabs(p);
            }
    return acc;
}

/* glia_winograd4_pool_conv against a direct loop in double, then ReLU and 2x2 max-pool: even
 * and odd sizes (tiles partly outside), bias or none, ReLU or none, dirty scratch. Its rounding
 * is F(4x4)'s: within 1e-5 of the terms' magnitude (the largest error seen is printed). */
START_TEST(winograd4_pool_matches_naive)
{
    static const int cfgs[][4] = {
        {32, 28, 28, 32}, {64, 14, 14, 16}, {8, 9, 10, 6}, {3, 7, 5, 5}, {2, 2, 3, 3}};
    glia_rng rng;
    glia_rng_seed(&rng, 14);
    double worst = 0.0;
    for (size_t t = 0; t < sizeof cfgs / sizeof cfgs[0]; t++) {
        const int c = cfgs[t][0], h = cfgs[t][1], w = cfgs[t][2], oc = cfgs[t][3], ph = h / 2, pw = w / 2;
        float *x = randoms((size_t)c * h * w, &rng), *wt = randoms((size_t)oc * c * 9, &rng),
              *b = randoms((size_t)oc, &rng);
        float *u = malloc(sizeof(float) * glia_winograd4_weight_floats(oc, c)),
              *y = malloc(sizeof(float) * (size_t)oc * ph * pw);
        double *full = malloc(sizeof(double) * (size_t)h * w), *mag = malloc(sizeof(double) * (size_t)h * w);
        const size_t ns = glia_winograd4_scratch(c, oc, h, w);
        float *scratch = malloc(sizeof(float) * ns);
        ck_assert(u && y && full && mag && scratch);
        glia_winograd4_weights(wt, oc, c, u);
        for (int variant = 0; variant < 3; variant++) {
            const int relu = variant == 1;
            for (size_t i = 0; i < ns; i++)
                scratch[i] = NAN;
            glia_winograd4_pool_conv(x, c, h, w, u, variant == 2 ? NULL : b, oc, relu, y, scratch);
            for (int o = 0; o < oc; o++) {
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++) {
                        const double acc =
                            naive_conv3(x, c, h, w, wt, variant == 2 ? NULL : b, o, i, j, &mag[i * w + j]);
                        full[i * w + j] = relu && acc < 0.0 ? 0.0 : acc;
                    }
                for (int i = 0; i < ph; i++)
                    for (int j = 0; j < pw; j++) {
                        double best = -INFINITY, m = 0.0;
                        for (int a = 0; a < 2; a++)
                            for (int e = 0; e < 2; e++) {
                                best = fmax(best, full[(2 * i + a) * w + 2 * j + e]);
                                m = fmax(m, mag[(2 * i + a) * w + 2 * j + e]);
                            }
                        const float got = y[((size_t)o * ph + i) * pw + j];
                        const double err = fabs(got - best) / fmax(1.0, m);
                        worst = fmax(worst, err);
                        ck_assert_msg(err <= 1e-5, "config %zu variant %d y[%d][%d][%d]: %.8g, expected %.8g",
                                      t, variant, o, i, j, got, best);
                    }
            }
        }
        free(x);
        free(wt);
        free(b);
        free(u);
        free(y);
        free(full);
        free(mag);
        free(scratch);
    }
    fprintf(stderr, "F(4x4, 3x3): largest error %.3g of the terms' magnitude\n", worst);
}
END_TEST

START_TEST(winograd_matches_naive)
{
    static const int cfgs[][4] = {{8, 28, 28, 16}, {16, 14, 14, 8}, {3, 7, 9, 5}, {1, 1, 1, 2}, {5, 2, 5, 3}};
    glia_rng rng;
    glia_rng_seed(&rng, 12);
    for (size_t t = 0; t < sizeof cfgs / sizeof cfgs[0]; t++) {
        const int c = cfgs[t][0], h = cfgs[t][1], w = cfgs[t][2], oc = cfgs[t][3];
        const size_t nx = (size_t)c * h * w, ny = (size_t)oc * h * w;
        float *x = randoms(nx, &rng), *wt = randoms((size_t)oc * c * 9, &rng), *b = randoms((size_t)oc, &rng);
        float *u = malloc(sizeof(float) * glia_winograd_weight_floats(oc, c)),
              *y = malloc(sizeof(float) * ny);
        const size_t ns = glia_winograd_scratch(c, oc, h, w);
        float *scratch = malloc(sizeof(float) * ns);
        ck_assert_ptr_nonnull(u);
        ck_assert_ptr_nonnull(y);
        ck_assert_ptr_nonnull(scratch);
        glia_winograd_weights(wt, oc, c, u);
        for (int variant = 0; variant < 3; variant++) {
            const int relu = variant == 1;
            for (size_t i = 0; i < ns; i++)
                scratch[i] = NAN; /* dirty: what the kernel reads it must write first */
            glia_winograd_conv(x, c, h, w, u, variant == 2 ? NULL : b, oc, relu, 0, y, scratch);
            for (int o = 0; o < oc; o++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < w; j++) {
                        double mag;
                        double acc = naive_conv3(x, c, h, w, wt, variant == 2 ? NULL : b, o, i, j, &mag);
                        if (relu && acc < 0.0)
                            acc = 0.0;
                        const float got = y[((size_t)o * h + i) * w + j];
                        /* rounding relative to the terms' magnitude: the transforms add them in
                         * another order, up to 4x larger on the way */
                        ck_assert_msg(fabs(got - acc) <= 1e-5 * fmax(1.0, mag),
                                      "config %zu variant %d y[%d][%d][%d]: %.8g, expected %.8g", t, variant,
                                      o, i, j, got, acc);
                    }
            /* with the 2x2 max-pool taken inside: the same bits as pooling y (pool2d.c's rule,
             * a NaN wins; one planted where the pool keeps it) */
            if (h >= 2 && w >= 2) {
                const int ph = h / 2, pw = w / 2;
                float *pooled = malloc(sizeof(float) * (size_t)oc * ph * pw);
                ck_assert_ptr_nonnull(pooled);
                const float x0 = x[0];
                x[0] = variant == 1 ? NAN : x0;
                glia_winograd_conv(x, c, h, w, u, variant == 2 ? NULL : b, oc, relu, 0, y, scratch);
                for (size_t i = 0; i < ns; i++)
                    scratch[i] = NAN;
                glia_winograd_conv(x, c, h, w, u, variant == 2 ? NULL : b, oc, relu, 1, pooled, scratch);
                for (int o = 0; o < oc; o++)
                    for (int i = 0; i < ph; i++)
                        for (int j = 0; j < pw; j++) {
                            const float *yo = y + (size_t)o * h * w;
                            float best = -INFINITY;
                            for (int a = 0; a < 2; a++)
                                for (int e = 0; e < 2; e++) {
                                    const float v = yo[(2 * i + a) * w + 2 * j + e];
                                    best = v > best || isnan(v) ? v : best;
                                }
                            const float got = pooled[((size_t)o * ph + i) * pw + j];
                            ck_assert_msg(memcmp(&got, &best, sizeof got) == 0 || (isnan(got) && isnan(best)),
                                          "config %zu variant %d pooled[%d][%d][%d]: %.9g, expected %.9g", t,
                                          variant, o, i, j, got, best);
                        }
                free(pooled);
                x[0] = x0;
            }
        }
        free(x);
        free(wt);
        free(b);
        free(u);
        free(y);
        free(scratch);
    }
    ck_assert(glia_winograd_ok(3, 1, 1));
    ck_assert(!glia_winograd_ok(3, 2, 1));
    ck_assert(!glia_winograd_ok(3, 1, 0));
    ck_assert(!glia_winograd_ok(5, 1, 2));
}
END_TEST

START_TEST(conv_direct_declines_other_shapes)
{
    ck_assert(!glia_conv_direct_ok(28, 28, 3, 2, 1));  /* stride 2 */
    ck_assert(!glia_conv_direct_ok(28, 28, 3, 1, 3));  /* pad >= k */
    ck_assert(!glia_conv_direct_ok(28, 28, 3, 1, -1)); /* a transposed conv's pad k-1-p < 0 */
    ck_assert(!glia_conv_direct_ok(8, 80, 3, 1, 1));   /* rows over 64 */
    glia_conv_direct_enable(0);
    ck_assert(!glia_conv_direct_ok(28, 28, 3, 1, 1));
    glia_conv_direct_enable(1);
}
END_TEST

/* ---- GEMM ---- */

static void check_gemm(int ta, int tb, int m, int n, int k, float alpha, float beta, int nan_c, glia_rng *rng)
{
    int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
    float *a = randoms((size_t)(ta ? k : m) * lda, rng), *b = randoms((size_t)(tb ? n : k) * ldb, rng);
    float *c = randoms((size_t)m * ldc, rng), *c0 = malloc(sizeof(float) * (size_t)m * ldc);
    ck_assert_ptr_nonnull(c0);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            if (nan_c)
                c[i * ldc + j] = NAN;
    memcpy(c0, c, sizeof(float) * (size_t)m * ldc);
    glia_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int p = 0; p < k; p++)
                acc +=
                    (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
            double want = alpha * acc + (beta != 0.0f ? beta * (double)c0[i * ldc + j] : 0.0);
            /* float rounding of a k-term dot product of values in [-1, 1] */
            double tol = 1e-6 * (k + 4);
            ck_assert_msg(fabs(c[i * ldc + j] - want) <= tol,
                          "%dx%dx%d ta=%d tb=%d alpha=%g beta=%g (%d,%d): %g vs %g", m, n, k, ta, tb, alpha,
                          beta, i, j, c[i * ldc + j], want);
        }
    for (int i = 0; i < m; i++) /* the padding columns of C are not touched */
        for (int j = n; j < ldc; j++)
            ck_assert_float_eq(c[i * ldc + j], c0[i * ldc + j]);
    free(a);
    free(b);
    free(c);
    free(c0);
}

START_TEST(gemm_matches_naive)
{
    static const int sizes[][3] = {{1, 1, 1},  {3, 5, 7},    {17, 1, 9},    {1, 13, 6},
                                   {8, 33, 2}, {31, 29, 37}, {67, 65, 129}, {5, 300, 3}};
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}, {-1.5f, 1.0f}};
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int v = 0; v < 3; v++)
                    check_gemm(ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], ab[v][0], ab[v][1], 0, &rng);
}
END_TEST

START_TEST(gemm_beta_zero_ignores_old_c)
{
    glia_rng rng;
    glia_rng_seed(&rng, 2);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(ta, tb, 9, 11, 5, 1.0f, 0.0f, 1, &rng);
            check_gemm(ta, tb, 40, 3, 70, 0.25f, 0.0f, 1, &rng);
        }
}
END_TEST

START_TEST(gemm_empty_is_a_no_op)
{
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 4}, c[4] = {7, 7, 7, 7};
    glia_gemm(0, 0, 0, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    glia_gemm(0, 0, 2, 0, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(c[i], 7.0f);
}
END_TEST

/* ---- im2col / col2im ---- */

/* c, h, w, kernel, stride, pad: "same" convolutions (stride 1, k = 2 pad + 1: the
 * shifted-plane path) of several sizes, and general ones - valid, strided, even
 * kernels, padding as wide as the input, non-square, a single row. */
static const int im_cfgs[][6] = {
    {1, 5, 5, 3, 1, 1}, {2, 7, 6, 3, 1, 1}, {3, 4, 9, 5, 1, 2},   {1, 2, 2, 3, 1, 1},
    {2, 3, 3, 5, 1, 2}, {1, 1, 6, 1, 1, 0}, {2, 28, 28, 3, 1, 1}, {2, 7, 6, 3, 2, 1},
    {3, 4, 5, 2, 1, 0}, {2, 6, 6, 5, 1, 0}, {1, 9, 7, 3, 3, 0},   {1, 2, 3, 3, 1, 3},
    {2, 1, 6, 3, 1, 1}, {2, 5, 4, 3, 2, 2}, {1, 8, 3, 4, 2, 1},   {2, 6, 7, 1, 2, 0},
};
enum { NIM = sizeof im_cfgs / sizeof im_cfgs[0] };

START_TEST(window_out_is_pytorch_formula)
{
    ck_assert_int_eq(glia_window_out(28, 3, 1, 1), 28);
    ck_assert_int_eq(glia_window_out(28, 2, 2, 0), 14);
    ck_assert_int_eq(glia_window_out(7, 2, 2, 0), 3); /* floor, ceil_mode=False */
    ck_assert_int_eq(glia_window_out(7, 3, 2, 1), 4);
    ck_assert_int_eq(glia_window_out(5, 5, 1, 0), 1);
    ck_assert_int_eq(glia_window_out(2, 3, 1, 3), 6);
}
END_TEST

START_TEST(im2col_matches_naive)
{
    glia_rng rng;
    glia_rng_seed(&rng, 3);
    const float sentinel = 12345.0f;
    for (int i = 0; i < NIM; i++) {
        int c = im_cfgs[i][0], h = im_cfgs[i][1], w = im_cfgs[i][2], k = im_cfgs[i][3], s = im_cfgs[i][4],
            p = im_cfgs[i][5];
        int oh = glia_window_out(h, k, s, p), ow = glia_window_out(w, k, s, p);
        size_t ohw = (size_t)oh * ow, rows = (size_t)c * k * k;
        /* three images side by side, as conv2d lays out a chunk, with a gap column after them */
        size_t ld = 3 * ohw + 5;
        float *x = randoms((size_t)3 * c * h * w, &rng), *col = malloc(sizeof(float) * rows * ld);
        ck_assert_ptr_nonnull(col);
        for (size_t j = 0; j < rows * ld; j++)
            col[j] = sentinel;
        for (int img = 0; img < 3; img++)
            glia_im2col(x + (size_t)img * c * h * w, c, h, w, k, s, p, oh, ow, col + img * ohw, ld);
        for (int img = 0; img < 3; img++)
            for (int ci = 0; ci < c; ci++)
                for (int a = 0; a < k; a++)
                    for (int e = 0; e < k; e++)
                        for (int y = 0; y < oh; y++)
                            for (int z = 0; z < ow; z++) {
                                int ih = y * s - p + a, iw = z * s - p + e;
                                float want = ih < 0 || ih >= h || iw < 0 || iw >= w
                                                 ? 0.0f
                                                 : x[(((size_t)img * c + ci) * h + ih) * w + iw];
                                size_t at =
                                    ((size_t)(ci * k + a) * k + e) * ld + img * ohw + (size_t)y * ow + z;
                                ck_assert_msg(
                                    col[at] == want,
                                    "config %d, image %d, row (%d,%d,%d), output (%d,%d): %g, want %g", i,
                                    img, ci, a, e, y, z, col[at], want);
                            }
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 3 * ohw; j < ld; j++)
                ck_assert_msg(col[r * ld + j] == sentinel, "config %d wrote past its columns (row %zu)", i,
                              r);
        free(x);
        free(col);
    }
}
END_TEST

START_TEST(col2im_is_the_adjoint_of_im2col)
{
    glia_rng rng;
    glia_rng_seed(&rng, 2);
    for (int i = 0; i < NIM; i++) {
        int c = im_cfgs[i][0], h = im_cfgs[i][1], w = im_cfgs[i][2], k = im_cfgs[i][3], s = im_cfgs[i][4],
            p = im_cfgs[i][5];
        int oh = glia_window_out(h, k, s, p), ow = glia_window_out(w, k, s, p);
        size_t rows = (size_t)c * k * k, ld = (size_t)oh * ow + 4, nx = (size_t)c * h * w;
        float *x = randoms(nx, &rng), *col = randoms(rows * ld, &rng), *ccol = randoms(rows * ld, &rng);
        float *dx = calloc(nx, sizeof(float)), *base = randoms(nx, &rng), *acc = malloc(sizeof(float) * nx);
        ck_assert(dx && acc);
        glia_im2col(x, c, h, w, k, s, p, oh, ow, col, ld);
        glia_col2im(ccol, ld, c, h, w, k, s, p, oh, ow, dx);
        double lhs = 0, rhs = 0, scale = 0;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < (size_t)oh * ow; j++) {
                lhs += (double)col[r * ld + j] * ccol[r * ld + j];
                scale += fabs((double)col[r * ld + j] * ccol[r * ld + j]);
            }
        for (size_t j = 0; j < nx; j++)
            rhs += (double)x[j] * dx[j];
        ck_assert_msg(fabs(lhs - rhs) <= 1e-6 * fmax(1.0, scale), "config %d: %.9g vs %.9g", i, lhs, rhs);
        ck_assert(scale > 0.0); /* the identity was not 0 = 0 */
        /* col2im adds to what dx holds */
        memcpy(acc, base, sizeof(float) * nx);
        glia_col2im(ccol, ld, c, h, w, k, s, p, oh, ow, acc);
        for (size_t j = 0; j < nx; j++)
            ck_assert_float_eq_tol(acc[j], base[j] + dx[j], 1e-5f);
        free(x);
        free(col);
        free(ccol);
        free(dx);
        free(base);
        free(acc);
    }
}
END_TEST

/* ---- softmax ---- */

static void check_softmax_rows(const float *x, const float *y, int n, int k)
{
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * k;
        double max = -INFINITY, sum = 0, ysum = 0;
        for (int j = 0; j < k; j++)
            max = fmax(max, xi[j]);
        for (int j = 0; j < k; j++)
            sum += exp((double)xi[j] - max);
        for (int j = 0; j < k; j++) {
            double want = exp((double)xi[j] - max) / sum;
            float got = y[(size_t)i * k + j];
            ck_assert_msg(isfinite(got) && got >= 0.0f, "row %d, column %d: %g", i, j, got);
            ck_assert_msg(fabs(got - want) <= 2e-6 * want + 1e-12, "row %d, column %d: %.9g vs %.9g", i, j,
                          got, want);
            ysum += got;
        }
        ck_assert_msg(fabs(ysum - 1.0) <= 1e-5, "row %d sums to %.9g", i, ysum);
    }
}

START_TEST(softmax_matches_reference)
{
    static const int ks[] = {1, 2, 3, 10, 257, 1000};
    static const float spread[] = {1.0f, 10.0f, 80.0f};
    glia_rng rng;
    glia_rng_seed(&rng, 4);
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
        for (size_t b = 0; b < 3; b++) {
            int n = 5, k = ks[a];
            float *x = randoms((size_t)n * k, &rng), *y = malloc(sizeof(float) * (size_t)n * k);
            ck_assert_ptr_nonnull(y);
            for (int i = 0; i < n * k; i++)
                x[i] *= spread[b];
            glia_softmax(x, y, n, k);
            check_softmax_rows(x, y, n, k);
            free(x);
            free(y);
        }
    /* hand values */
    const float x[3] = {1.0f, 2.0f, 3.0f};
    float y[3];
    glia_softmax(x, y, 1, 3);
    ck_assert_float_eq_tol(y[2], expf(3.0f) / (expf(1.0f) + expf(2.0f) + expf(3.0f)), 1e-6f);
    ck_assert_float_eq_tol(y[0], 0.09003057317f, 1e-7f);
}
END_TEST

START_TEST(softmax_is_stable)
{
    /* rows whose exp would overflow or underflow float without the max subtraction */
    const float x[] = {
        1000.0f,   1000.0f,      -1000.0f,     /* two equal giants */
        89.0f,     88.0f,        87.0f,        /* expf(89) is inf */
        -1e4f,     -1e4f + 1.0f, -1e4f + 2.0f, /* expf(-1e4) is 0 */
        3e38f,     -3e38f,       0.0f,         /* the float range's ends */
        -INFINITY, 0.0f,         1.0f,         /* a masked entry */
        5.0f,      5.0f,         5.0f,         /* ties */
    };
    enum { N = 6, K = 3 };
    float y[N * K];
    glia_softmax(x, y, N, K);
    for (int i = 0; i < N * K; i++)
        ck_assert_msg(isfinite(y[i]), "y[%d] = %g", i, y[i]);
    ck_assert_float_eq_tol(y[0], 0.5f, 1e-6f);
    ck_assert_float_eq(y[2], 0.0f);
    check_softmax_rows(x + 3, y + 3, 2, K); /* same values as {2, 1, 0}, computed in double */
    ck_assert_float_eq_tol(y[3], 0.66524096f, 1e-6f);
    ck_assert_float_eq_tol(y[8], 0.66524096f, 1e-6f);
    ck_assert_float_eq(y[9], 1.0f);
    ck_assert_float_eq(y[10], 0.0f);
    ck_assert_float_eq(y[12], 0.0f);
    ck_assert_float_eq_tol(y[14], 0.73105858f, 1e-6f);
    for (int j = 15; j < 18; j++)
        ck_assert_float_eq_tol(y[j], 1.0f / 3.0f, 1e-7f);
    /* in place (y aliases x) gives the same */
    float z[N * K];
    memcpy(z, x, sizeof z);
    glia_softmax(z, z, N, K);
    ck_assert_mem_eq(z, y, sizeof z);
}
END_TEST

/* ---- dropout ---- */

/* glia_dropout_forward keeps element i exactly when the i-th uniform draw of the stream is >= p
 * (its draws come in blocks: sizes below, at and past a block, in place and not), scales the
 * kept ones by 1/(1-p), writes +0 elsewhere, records the mask, and leaves the generator where
 * n single draws would; glia_dropout_backward passes dy through that mask. */
START_TEST(dropout_follows_the_stream_in_blocks)
{
    static const size_t sizes[] = {1, 7, 511, 512, 513, 1300};
    static const float ps[] = {0.1f, 0.5f, 1.0f};
    glia_rng data;
    glia_rng_seed(&data, 5);
    float *x = randoms(1300, &data), *y = malloc(sizeof(float) * 1300), *dx = malloc(sizeof(float) * 1300);
    uint8_t *keep = malloc(1300);
    ck_assert(y && dx && keep);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int k = 0; k < 3; k++)
            for (int in_place = 0; in_place < 2; in_place++) {
                const size_t n = sizes[s];
                const float p = ps[k], scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
                glia_rng a, b;
                glia_rng_seed(&a, 11 + s);
                glia_rng_seed(&b, 11 + s);
                if (in_place)
                    memcpy(y, x, sizeof(float) * n);
                glia_dropout_forward(in_place ? y : x, y, keep, n, p, &a);
                for (size_t i = 0; i < n; i++) {
                    const int kept = glia_rng_uniform(&b) >= p;
                    ck_assert_int_eq(keep[i], kept);
                    if (kept)
                        ck_assert_float_eq(y[i], x[i] * scale);
                    else
                        ck_assert(y[i] == 0.0f && !signbit(y[i]));
                }
                ck_assert_uint_eq(glia_rng_next(&a), glia_rng_next(&b));
                glia_dropout_backward(x, dx, keep, n, p);
                for (size_t i = 0; i < n; i++)
                    ck_assert_float_eq(dx[i], keep[i] ? x[i] * scale : 0.0f);
            }
    free(x);
    free(y);
    free(dx);
    free(keep);
}
END_TEST

/* glia_relu_backward: d * scale where y > 0, exactly +0 elsewhere (y = 0, -0, negative, NaN),
 * also where d is infinite or NaN (a masked gradient never leaks through as NaN or -0). */
START_TEST(relu_backward_masks_by_the_output)
{
    enum { N = 1037 };
    glia_rng rng;
    glia_rng_seed(&rng, 9);
    float *y = randoms(N, &rng), *d = randoms(N, &rng), *want = malloc(sizeof(float) * N);
    ck_assert_ptr_nonnull(want);
    y[0] = 0.0f, y[1] = -0.0f, y[2] = NAN, y[3] = 1.0f, y[4] = -1.0f;
    d[2] = -3.0f, d[3] = INFINITY, d[4] = INFINITY, d[5] = NAN;
    y[5] = -2.0f;
    const float scale = 1.0f / 0.9f;
    for (int i = 0; i < N; i++)
        want[i] = y[i] > 0.0f ? d[i] * scale : 0.0f;
    glia_relu_backward(y, d, N, scale);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(d[i] == want[i] || (isnan(d[i]) && isnan(want[i])), "d[%d] = %g, want %g", i, d[i],
                      want[i]);
        ck_assert(!signbit(d[i]) || y[i] > 0.0f);
    }
    ck_assert(isinf(d[3]) && d[4] == 0.0f && d[5] == 0.0f);
    free(y);
    free(d);
    free(want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gemm_matches_naive);
    tcase_add_test(tc, gemm_beta_zero_ignores_old_c);
    tcase_add_test(tc, gemm_empty_is_a_no_op);
    tcase_add_test(tc, window_out_is_pytorch_formula);
    tcase_add_test(tc, im2col_matches_naive);
    tcase_add_test(tc, col2im_is_the_adjoint_of_im2col);
    tcase_add_test(tc, softmax_matches_reference);
    tcase_add_test(tc, softmax_is_stable);
    tcase_add_test(tc, conv_direct_matches_naive);
    tcase_add_test(tc, conv_direct_declines_other_shapes);
    tcase_add_test(tc, winograd_matches_naive);
    tcase_add_test(tc, winograd4_pool_matches_naive);
    tcase_add_test(tc, dropout_follows_the_stream_in_blocks);
    tcase_add_test(tc, relu_backward_masks_by_the_output);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
