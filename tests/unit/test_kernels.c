/*
 * test_kernels.c - the kernels under the layers: glia_gemm against a naive triple loop
 * for every transpose combination and odd sizes with padded leading dimensions;
 * col2im as the exact adjoint of im2col (<im2col(x), c> = <x, col2im(c)>) for several
 * strides and paddings; softmax rows that sum to one.
 */
#include "core/base/rng.h"
#include "core/nn/kernels.h"
#include "tests/support/check_main.h"

#include <math.h>
#include <stdlib.h>

static float *randoms(size_t n, glia_rng *rng)
{
    float *x = malloc(sizeof(float) * (n ? n : 1));
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++)
        x[i] = 2.0f * glia_rng_uniform(rng) - 1.0f;
    return x;
}

START_TEST(gemm_matches_naive)
{
    static const int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 1, 9}, {8, 33, 2}, {31, 29, 37}};
    glia_rng rng;
    glia_rng_seed(&rng, 1);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
                int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
                float *a = randoms((size_t)(ta ? k : m) * lda, &rng),
                      *b = randoms((size_t)(tb ? n : k) * ldb, &rng);
                float *c = randoms((size_t)m * ldc, &rng), *c0 = malloc(sizeof(float) * (size_t)m * ldc);
                for (int i = 0; i < m * ldc; i++)
                    c0[i] = c[i];
                glia_gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c, ldc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double acc = 0;
                        for (int p = 0; p < k; p++)
                            acc += (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
                                   (tb ? b[j * ldb + p] : b[p * ldb + j]);
                        double want = 0.5 * acc + 2.0 * c0[i * ldc + j];
                        ck_assert_msg(fabs(c[i * ldc + j] - want) < 1e-4,
                                      "%dx%dx%d ta=%d tb=%d (%d,%d): %g vs %g", m, n, k, ta, tb, i, j,
                                      c[i * ldc + j], want);
                    }
                for (int i = 0; i < m; i++) /* padding columns untouched */
                    for (int j = n; j < ldc; j++)
                        ck_assert_float_eq(c[i * ldc + j], c0[i * ldc + j]);
                free(a);
                free(b);
                free(c);
                free(c0);
            }
}
END_TEST

START_TEST(col2im_is_the_adjoint_of_im2col)
{
    static const int cfg[][6] = {
        /* c, h, w, kernel, stride, pad */
        {1, 5, 5, 3, 1, 1}, {2, 7, 6, 3, 2, 1}, {3, 4, 5, 2, 1, 0}, {2, 6, 6, 5, 1, 2}, {1, 9, 7, 3, 3, 0},
    };
    glia_rng rng;
    glia_rng_seed(&rng, 2);
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        int c = cfg[i][0], h = cfg[i][1], w = cfg[i][2], k = cfg[i][3], s = cfg[i][4], p = cfg[i][5];
        int oh = glia_window_out(h, k, s, p), ow = glia_window_out(w, k, s, p);
        size_t rows = (size_t)c * k * k, ld = (size_t)oh * ow + 4; /* padded rows */
        float *x = randoms((size_t)c * h * w, &rng), *col = randoms(rows * ld, &rng),
              *ccol = randoms(rows * ld, &rng);
        float *dx = calloc((size_t)c * h * w, sizeof(float));
        glia_im2col(x, c, h, w, k, s, p, oh, ow, col, ld);
        glia_col2im(ccol, ld, c, h, w, k, s, p, oh, ow, dx);
        double lhs = 0, rhs = 0;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < (size_t)oh * ow; j++)
                lhs += (double)col[r * ld + j] * ccol[r * ld + j];
        for (size_t j = 0; j < (size_t)c * h * w; j++)
            rhs += (double)x[j] * dx[j];
        ck_assert_msg(fabs(lhs - rhs) < 1e-4 * fmax(1.0, fabs(lhs)), "config %zu: %g vs %g", i, lhs, rhs);
        free(x);
        free(col);
        free(ccol);
        free(dx);
    }
}
END_TEST

START_TEST(softmax_rows_sum_to_one)
{
    const float x[6] = {1.0f, 2.0f, 3.0f, 1000.0f, 1000.0f, -1000.0f};
    float y[6];
    glia_softmax(x, y, 2, 3);
    ck_assert_float_eq_tol(y[0] + y[1] + y[2], 1.0f, 1e-6f);
    ck_assert_float_eq_tol(y[2], expf(3.0f) / (expf(1.0f) + expf(2.0f) + expf(3.0f)), 1e-6f);
    ck_assert_float_eq_tol(y[3], 0.5f, 1e-6f);
    ck_assert_float_eq(y[5], 0.0f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, gemm_matches_naive);
    tcase_add_test(tc, col2im_is_the_adjoint_of_im2col);
    tcase_add_test(tc, softmax_rows_sum_to_one);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
